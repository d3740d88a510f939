#pragma once
// Private: Set-Cookie parsing. cpprestsdk joins repeated Set-Cookie headers
// with ", ", and `expires=Wed, 21 Oct 2026 ...` also contains ", ", so a
// comma only starts a new cookie when `token=` follows it.

#include <ews/soap/transport.hpp>

#include <string_view>
#include <vector>

namespace ews::soap::detail {

/// Name and value of each cookie in one (possibly joined) Set-Cookie value;
/// attributes (Path, Expires, Secure, ...) are dropped. Malformed parts are
/// skipped.
std::vector<cookie> parse_set_cookie(std::string_view value);

/// Every cookie of every Set-Cookie header in `headers`.
std::vector<cookie> cookies_from_headers(const http_headers& headers);

}  // namespace ews::soap::detail
