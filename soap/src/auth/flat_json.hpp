#pragma once
// Private: a strict parser for the one JSON shape a token endpoint answers
// with: a single object whose members are strings, numbers, booleans or null
// (RFC 8259 syntax). Nested values are refused, so no recursion and no
// unbounded memory beyond the input. Pure: fuzz it with any bytes.

#include <ews/result.hpp>

#include <map>
#include <string>
#include <string_view>

namespace ews::auth::detail {

struct flat_json_value {
  enum class kind { string, number, boolean, null };
  kind type = kind::null;
  /// String: the decoded UTF-8 text. Number: the literal as written.
  /// Boolean: "true"/"false". Null: "".
  std::string text;
};

using flat_json_object = std::map<std::string, flat_json_value, std::less<>>;

/// Parses `text` (surrounding whitespace allowed). Errors are
/// errc::unexpected_response naming the byte offset. A duplicate member
/// name is an error (which one wins would be a guess).
result<flat_json_object> parse_flat_json(std::string_view text);

}  // namespace ews::auth::detail
