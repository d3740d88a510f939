#pragma once
// Private: wire traces without secrets. Everything logged at trace level
// passes through here first.

#include <ews/soap/transport.hpp>

#include <string>
#include <string_view>

namespace ews::soap::detail {

/// Whether a header's value is a secret (Authorization, Proxy-Authorization,
/// Cookie, Set-Cookie, and any *-Token / *-Secret style header).
bool is_secret_header(std::string_view name) noexcept;

/// `body` with the values of client_secret, password, access_token,
/// refresh_token (form `k=v`, JSON `"k": "v"`, XML `<k>v</k>` with any
/// prefix) and `Authorization` replaced by "***". Case-insensitive.
std::string redact_body(std::string_view body);

/// "Name: value" lines with secret values replaced by "***".
std::string format_headers(const http_headers& headers);

/// A whole request for a trace line: method, URL (query redacted as a body),
/// headers, body.
std::string trace_request(const http_request& request);

/// A whole response head (and body, if given) for a trace line.
std::string trace_response(const http_response_head& head, std::string_view body);

}  // namespace ews::soap::detail
