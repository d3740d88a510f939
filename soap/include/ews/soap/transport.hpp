#pragma once
/// @file
/// The one HTTP interface the library talks through. Two engines implement
/// it in private sources (make_http_transport picks one: cpprestsdk or
/// Boost.Beast/Asio); tests implement it too. No engine type appears here.

#include <ews/context.hpp>
#include <ews/logging.hpp>
#include <ews/result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews::soap {

struct http_header {
  std::string name;
  std::string value;
};
using http_headers = std::vector<http_header>;

/// Case-insensitive lookup; nullopt if absent.
std::optional<std::string> find_header(const http_headers& headers, std::string_view name);

struct cookie {
  std::string name;
  std::string value;
};

struct http_request {
  std::string method = "POST";
  std::string url;
  http_headers headers;  ///< e.g. Content-Type, Authorization, X-AnchorMailbox, Cookie
  std::string body;
  /// Abort when no byte arrives for this long (reset by every byte received).
  std::chrono::milliseconds inactivity_timeout = std::chrono::seconds(100);
  /// send() only, optional and borrowed: memory for the response body. An
  /// engine may take this string's buffer (its content is dropped) to build
  /// the body in, so a caller that hands each answer's body back here
  /// allocates large answers once instead of per call (the asio engine does;
  /// cpprestsdk ignores it). Never sent.
  std::string* body_buffer = nullptr;
};

struct http_response_head {
  int status = 0;
  std::string reason;
  http_headers headers;
  std::vector<cookie> cookies;  ///< parsed from every Set-Cookie header
};

struct http_response {
  http_response_head head;
  std::string body;
};

/// The error for a status the caller does not accept: errc::http_status (or
/// errc::throttled for 429/503, errc::authentication for 401, errc::redirect
/// for 3xx), with Retry-After as back_off and the request id header.
error_info http_status_error(const http_response_head& head);

/// Receives a streaming response. Calls come from the transport's threads,
/// one at a time per stream: on_head once, then on_data for each piece as it
/// arrives, then on_end exactly once (also after cancel or a failed connect,
/// in which case on_head may not have been called).
class stream_observer {
 public:
  virtual ~stream_observer() = default;
  virtual void on_head(const http_response_head& head) = 0;
  /// Return false to pause reading (back-pressure) until stream::resume().
  virtual bool on_data(std::string_view bytes) = 0;
  /// nullopt: the server ended the body cleanly.
  virtual void on_end(const std::optional<error_info>& error) = 0;
};

/// An open streaming response. Destroying it cancels the stream and waits
/// until no observer call is running or will run.
class stream {
 public:
  virtual ~stream() = default;
  /// Closes the socket at once; on_end(errc::cancelled) follows.
  virtual void cancel() = 0;
  /// Continues after on_data returned false. (The asio engine stops reading
  /// the socket while paused, so the server's writes block: true
  /// back-pressure. The cpprestsdk engine keeps receiving into its buffer
  /// while paused; pausing holds back deliveries, not the socket.)
  virtual void resume() = 0;
};

class transport {
 public:
  virtual ~transport() = default;

  /// Sends a request and reads the whole response. Any status is returned as
  /// a response (a SOAP fault comes with 500) except 3xx, which is
  /// errc::redirect naming the Location: redirects are never followed.
  /// Transport failures are errors (connect_failed, connection_reset,
  /// closed_mid_body, timeout, tls_failure, cancelled, response_too_large).
  virtual result<http_response> send(const http_request& request, const context& ctx) = 0;

  /// Starts a streaming request (GetStreamingEvents). Never blocks on the
  /// network; results arrive at `observer`. Uses connections separate from
  /// send(), so a hanging stream never delays an ordinary request.
  virtual std::unique_ptr<stream> open_stream(const http_request& request,
                                              std::shared_ptr<stream_observer> observer) = 0;
};

/// The HTTP engine behind make_http_transport.
enum class http_engine {
  cpprestsdk,  ///< cpprestsdk (the default): one process-wide thread pool
  asio,        ///< Boost.Beast/Asio: this transport's own threads, no process-wide state
};

struct http_transport_options {
  /// Which engine. cpprestsdk stays the default.
  http_engine engine = http_engine::cpprestsdk;
  /// asio engine only: threads of this transport's own io_context,
  /// 1..max_http_engine_threads (streams and send() run on them; they only
  /// move bytes and run stream observers). Ignored by the cpprestsdk engine,
  /// whose pool is process-wide (set_http_engine_threads).
  std::size_t threads = 1;
  /// Extra trusted CA certificates (PEM file). Empty: the system store only.
  std::string ca_file;
  /// Permit http:// to hosts other than loopback. Off: such URLs give
  /// errc::insecure_url.
  bool allow_insecure_http = false;
  /// Largest body send() accepts (errc::response_too_large beyond it).
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  /// Longest wait for a connection: name resolution, TCP connect and the
  /// TLS handshake together (errc::connect_failed beyond it). Honoured by
  /// the asio engine. The cpprestsdk engine cannot time connecting
  /// separately: there, connecting is bounded by the request's
  /// inactivity_timeout (and send() by the context's deadline).
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(30);
  logger log;
};

/// Most threads set_http_engine_threads() accepts.
inline constexpr std::size_t max_http_engine_threads = 256;

/// Sizes the thread pool the cpprestsdk engine runs every transport of the
/// process on. Optional: without it cpprestsdk creates 40 threads at first
/// use, and each piece of a response then hops between sleeping threads, a
/// wake-up per hop that costs more CPU than parsing the bytes (see
/// bench/results/reference.md: per fetched mail and per keep-alive, 2
/// threads cost a fraction of 40). 1 or 2 threads carry thousands of
/// mailboxes: the engine's threads only move bytes and run the stream
/// readers; GetItem calls and handlers run on the library's own threads.
/// With 1, a slow on_gap/on_error callback holds up every stream, so 2 is
/// the usual choice.
///
/// Process-wide and once only, because cpprestsdk's pool is: call it early in
/// main, before any transport sends or opens a stream. The threads start
/// here, so a program that blocks signals for a signal thread of its own
/// does that first. errc::invalid_argument
/// when `threads` is outside 1..max_http_engine_threads, or when the pool
/// exists already (an earlier call, or a request made before): the pool keeps
/// its size then, so log the error and go on, or treat it as a setup bug.
status set_http_engine_threads(std::size_t threads);

/// The production transport, on the engine `options.engine` names (TLS 1.2+,
/// certificates and host names verified against one shared store,
/// redirects never followed, wire traces at log_level::trace with secrets
/// redacted). Throws ews::error: errc::tls_failure when `ca_file` cannot be
/// loaded (a wrong path must not silently fall back to the system store),
/// errc::invalid_argument when `threads` is outside 1..max_http_engine_threads
/// (asio engine).
///
/// Destroy every stream before the transport's owner exits; streams keep
/// their connection pool (asio: the io_context and its threads) alive on
/// their own, so the order is not a crash. The asio engine stops and joins
/// its threads when the transport and its last stream are gone.
std::unique_ptr<transport> make_http_transport(http_transport_options options = {});

}  // namespace ews::soap
