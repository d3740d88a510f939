#pragma once
/// @file
/// A recording proxy: listens on 127.0.0.1, forwards every request to an
/// upstream EWS server through a soap::transport (GetStreamingEvents through
/// open_stream, each piece forwarded and recorded with its delay as it
/// arrives) and keeps what passed as a scenario, with Authorization,
/// cookies, passwords and tokens redacted.

#include <ews/soap/transport.hpp>
#include <ews/testing/scenario.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace ews::testing {

struct recorder_options {
  /// Where requests go, e.g. "https://mail.example.com/EWS/Exchange.asmx".
  std::string upstream;
  std::uint16_t port = 0;  ///< local port; 0: ephemeral
  std::string name = "recorded";  ///< scenario name
};

class recorder {
 public:
  /// `upstream_transport` null: soap::make_http_transport() (allowing
  /// http:// only to loopback). Throws ews::error if it cannot listen.
  explicit recorder(recorder_options options,
                    std::shared_ptr<soap::transport> upstream_transport = nullptr);
  ~recorder();
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  /// The local URL clients should use instead of the upstream.
  std::string url() const;
  std::uint16_t port() const noexcept;

  /// What was recorded so far (redacted), in request order.
  scenario recorded() const;
  /// Stops forwarding (open streams are cancelled) and keeps the recording.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Redacts secrets: values of Authorization, Proxy-Authorization, Cookie,
/// Set-Cookie (cookie names kept) and any header whose name mentions token,
/// password or secret.
soap::http_headers redact_headers(const soap::http_headers& headers);
/// Redacts the text of XML elements whose local name mentions Password or
/// Token.
std::string redact_body(std::string body);

}  // namespace ews::testing
