#pragma once
/// @file
/// Sends SOAP envelopes to one EWS endpoint: applies credentials, retries a
/// 401 once after a credential refresh, and turns HTTP outcomes into the error
/// model (SOAP faults from HTTP 500 bodies, throttling with back-off from
/// Retry-After or BackOffMilliseconds, redirects refused). Every operation of
/// the library (Subscribe, GetStreamingEvents, GetItem, SyncFolderItems,
/// Unsubscribe) goes through it.

#include <ews/context.hpp>
#include <ews/credentials.hpp>
#include <ews/logging.hpp>
#include <ews/result.hpp>
#include <ews/soap/transport.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace ews::soap {

struct service_options {
  std::string url;  ///< https://host/EWS/Exchange.asmx
  std::shared_ptr<transport> http;
  std::shared_ptr<credential_provider> credentials;  ///< may be null (no auth)
  std::chrono::milliseconds request_timeout = std::chrono::seconds(100);
  logger log;
};

class service_client {
 public:
  /// Throws ews::error (errc::invalid_argument) when options.http is null.
  explicit service_client(service_options options);

  /// POSTs `envelope` with `extra_headers` (X-AnchorMailbox, Cookie, ...).
  /// Returns the response when the status is 200. Errors: a SOAP fault in a
  /// 500 body (errc::soap_fault, or errc::throttled with back_off for
  /// ErrorServerBusy); 401 twice -> errc::authentication; 3xx ->
  /// errc::redirect; 429/503 -> errc::throttled; other statuses ->
  /// errc::http_status; transport errors as the transport gives them.
  /// `body_buffer`: see http_request::body_buffer.
  result<http_response> call(const std::string& envelope, const http_headers& extra_headers,
                             const context& ctx, std::string* body_buffer = nullptr) const;

  /// Opens a streaming POST (GetStreamingEvents) with credentials applied.
  /// The observer sees the raw status: it handles 401 (see credentials()),
  /// faults and throttling itself, since a stream cannot be replayed here.
  result<std::unique_ptr<stream>> open_stream(const std::string& envelope, const http_headers& extra_headers,
                                              std::chrono::milliseconds inactivity_timeout,
                                              std::shared_ptr<stream_observer> observer,
                                              const context& ctx) const;

  const std::shared_ptr<credential_provider>& credentials() const noexcept { return options_.credentials; }
  const logger& log() const noexcept { return options_.log; }
  const std::string& url() const noexcept { return options_.url; }

 private:
  service_options options_;
};

}  // namespace ews::soap
