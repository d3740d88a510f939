#include "http/request_rules.hpp"

#include <strings.h>

namespace ews::soap::detail {

bool engine_owned_header(std::string_view name) noexcept {
  for (std::string_view h : {"Host", "Content-Length", "Transfer-Encoding", "Connection"}) {
    if (name.size() == h.size() && strncasecmp(name.data(), h.data(), h.size()) == 0) return true;
  }
  return false;
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
