#include "http/request_rules.hpp"

#include <algorithm>

#include <strings.h>

namespace ews::soap::detail {

bool engine_owned_header(std::string_view name) noexcept {
  for (std::string_view h : {"Host", "Content-Length", "Transfer-Encoding", "Connection", "Content-Type"}) {
    if (name.size() == h.size() && strncasecmp(name.data(), h.data(), h.size()) == 0) return true;
  }
  return false;
}

std::optional<std::string> body_content_type(const http_request& request) {
  if (request.body.empty() && request.method != "POST") return std::nullopt;
  return find_header(request.headers, "Content-Type").value_or("text/xml; charset=utf-8");
}

bool is_token_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
    case '\\': case '"': case '/': case '[': case ']': case '?': case '=': case '{': case '}':
      return false;
    default:
      return true;
  }
}

status check_method(std::string_view method) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char))
    return make_error(errc::invalid_argument, "invalid HTTP method");
  return ok;
}

status check_header(const http_header& header) {
  if (header.name.empty() || header.name.find_first_of(std::string_view("\r\n:\0", 4)) != std::string::npos ||
      header.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return make_error(errc::invalid_argument, "header " + header.name + " contains a line break or colon");
  }
  return ok;
}

error_info context_error(const context& ctx) {
  return ctx.cancelled() ? make_error(errc::cancelled, "cancelled by the caller")
                         : make_error(errc::timeout, "the call's deadline passed", true);
}

}  // namespace ews::soap::detail
