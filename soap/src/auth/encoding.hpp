#pragma once
// Private: the small encodings credentials need (base64 for Basic and NTLM,
// form encoding for token requests).

#include <optional>
#include <string>
#include <string_view>

namespace ews::auth::detail {

/// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);
/// Strict RFC 4648 decoding (padding required, no whitespace, unused bits
/// zero, so decoding then encoding gives the input back); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

/// application/x-www-form-urlencoded value: unreserved characters as they
/// are, space as '+', everything else %XX (UTF-8 bytes).
std::string form_encode(std::string_view value);

}  // namespace ews::auth::detail
