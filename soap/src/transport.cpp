#include <ews/soap/transport.hpp>

#include "http/retry_after.hpp"

#include <strings.h>

namespace ews::soap {
namespace {

// Headers servers use to name a request for support (Exchange: request-id;
// proxies and gateways: X-Request-Id and friends), most specific first.
constexpr std::string_view request_id_headers[] = {"request-id", "X-Request-Id", "client-request-id",
                                                   "X-MS-Request-Id", "X-Correlation-Id"};

}  // namespace

std::optional<std::string> find_header(const http_headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) return h.value;
  }
  return std::nullopt;
}

error_info http_status_error(const http_response_head& head) {
  const int s = head.status;
  std::string what = "HTTP " + std::to_string(s) + (head.reason.empty() ? "" : " " + head.reason);
  error_info info;
  if (s >= 300 && s < 400) {
    auto location = find_header(head.headers, "Location");
    info = make_error(errc::redirect,
                      what + ": redirect to " + (location ? *location : std::string("(no Location)")) +
                          " not followed (redirects are refused so credentials never reach another origin)");
  } else if (s == 401) {
    info = make_error(errc::authentication, what + ": credentials refused");
    // Exchange explains auth failures here ("2000003;reason=...").
    if (auto diag = find_header(head.headers, "X-MS-Diagnostics")) info.message += " (" + *diag + ")";
  } else if (s == 429 || s == 503) {
    info = make_error(errc::throttled, what, true);
  } else {
    info = make_error(errc::http_status, what, s == 408 || s == 502 || s == 504 || s == 500);
  }
  info.http_status = s;
  if (auto retry = find_header(head.headers, "Retry-After")) {
    info.back_off = detail::parse_retry_after(*retry, std::chrono::system_clock::now());
  }
  for (auto name : request_id_headers) {
    if (auto id = find_header(head.headers, name); id && !id->empty()) {
      info.request_id = *id;
      break;
    }
  }
  return info;
}

}  // namespace ews::soap
