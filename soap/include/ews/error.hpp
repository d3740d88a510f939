#pragma once
/// @file
/// The one error model of the library.
///
/// Every failure is described by an `error_info`: what kind of failure
/// (`errc`), and, where known, the EWS ResponseCode, the HTTP status, the SOAP
/// fault code, a back-off the server asked for, and whether retrying may help.
/// Sans-I/O code (parsers, builders) returns it inside `ews::result<T>`; the
/// client API throws it as `ews::error`; background work (streams, fetches)
/// hands it to the application's callbacks.

#include <ews/response_code.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace ews {

/// Kinds of failure. Stable: values are never renumbered.
enum class errc {
  // Caller mistakes, found before anything is sent.
  invalid_argument = 1,
  // What the server sent could not be understood.
  malformed_xml = 10,        ///< not well-formed XML
  unexpected_response,       ///< well-formed, but not the expected SOAP/EWS shape
  envelope_too_large,        ///< one envelope beyond the configured limit
  response_too_large,        ///< an HTTP body beyond the configured limit
  stream_garbage,            ///< bytes between envelopes that are not XML
  // What the server said.
  soap_fault = 20,           ///< a SOAP Fault (code and ResponseCode in error_info)
  ews_error,                 ///< a ResponseMessage with ResponseClass Error
  http_status,               ///< an HTTP status the operation does not accept
  redirect,                  ///< a 3xx; never followed (Location in the message)
  authentication,            ///< credentials refused (after one refresh) or not obtainable
  throttled,                 ///< 429/503 or ErrorServerBusy; see back_off
  // Transport.
  connect_failed = 40,       ///< connection refused, no route, DNS failure
  connection_reset,          ///< reset by peer
  closed_mid_body,           ///< the server closed before the body was complete
  timeout,                   ///< inactivity or deadline expired
  tls_failure,               ///< handshake or certificate verification failed
  cancelled,                 ///< cancelled by the caller
  insecure_url,              ///< http:// to a non-loopback host without opt-in
  // Local state.
  checkpoint_corrupt = 60,   ///< a checkpoint file failed its checksum or format
  io_error,                  ///< a local file operation failed
  // The application's handler threw.
  handler_failed = 70,
};

/// The category of `errc` codes ("ews").
const std::error_category& ews_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), ews_category()};
}

/// Everything an operator needs to act on one failure.
struct error_info {
  std::error_code code;  ///< an `errc` value
  std::string message;   ///< one human sentence; never contains credentials

  /// EWS ResponseCode, when the server gave one; `response_code_text` keeps
  /// the wire text (also for codes newer than the schema copy).
  std::optional<response_code> ews_code;
  std::string response_code_text;

  int http_status = 0;          ///< 0 when no HTTP response was involved
  std::string soap_fault_code;  ///< e.g. "a:ErrorServerBusy", "soap11:Client"
  std::string request_id;       ///< server request id header, for support tickets

  /// How long the server asked us to wait (BackOffMilliseconds, Retry-After).
  std::optional<std::chrono::milliseconds> back_off;

  /// Whether the same request may succeed later without a change.
  bool transient = false;

  /// `errc` of `code`, or 0 when the code is from another category.
  errc kind() const noexcept;
  /// Whether the same request may get past this failure after a wait: the
  /// server said so (`transient`), it throttled us, or the connection failed
  /// (refused, reset, cut mid-body, timed out). The one rule every retry
  /// loop of the library uses.
  bool retryable() const noexcept;
  /// "ErrorServerBusy" style text for logs and JSON: the ResponseCode text if
  /// any, else the errc name.
  std::string code_name() const;
};

/// Shorthand: an error_info with a kind and a message.
error_info make_error(errc kind, std::string message, bool transient = false);

/// The name of an errc ("connect_failed").
std::string_view to_string(errc e) noexcept;

/// Thrown by the client API. Derives from std::system_error so generic
/// handlers can log `what()` and compare `code()`.
class error : public std::system_error {
 public:
  explicit error(error_info info);
  const error_info& info() const noexcept { return info_; }

 private:
  error_info info_;
};

}  // namespace ews

namespace std {
template <>
struct is_error_code_enum<ews::errc> : true_type {};
}  // namespace std
