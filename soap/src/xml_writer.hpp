#pragma once
// Private: a minimal, fast XML serializer for request envelopes.
//
// Element and attribute names are the library's own constants (string
// literals; they are not checked). Every value — attribute or text — is
// checked and escaped: the five XML specials become entities, and a string
// XML 1.0 cannot carry (a control character other than tab/LF/CR, U+FFFE,
// U+FFFF, or bytes that are not UTF-8) is refused, so user data can never
// change the structure of a document or make it ill-formed.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace ews::soap::detail {

/// Why a value was refused, and where (byte offset into the value).
struct xml_value_error {
  enum class reason { none, control_character, not_utf8, noncharacter };
  reason why = reason::none;
  std::size_t offset = 0;
  unsigned code_point = 0;  ///< for control_character / noncharacter

  /// "contains U+0001 at byte 5, which XML 1.0 cannot carry" style text.
  std::string describe() const;
};

/// Checks that `value` can be written as XML 1.0 character data.
xml_value_error check_xml_value(std::string_view value) noexcept;

class xml_writer {
 public:
  /// `capacity_hint`: expected output size, reserved up front.
  explicit xml_writer(std::size_t capacity_hint = 1024);

  /// Writes `<?xml version="1.0" encoding="utf-8"?>`.
  void declaration();

  /// Opens `<name`; attributes may follow until the next start/text/end.
  void start(std::string_view name);

  /// ` name="value"` on the element just started. False (nothing written,
  /// see last_error()) if `value` cannot be carried by XML 1.0.
  [[nodiscard]] bool attribute(std::string_view name, std::string_view value);

  /// Escaped character data. False as for attribute(); a refused or empty
  /// value writes nothing.
  [[nodiscard]] bool text(std::string_view value);

  /// Closes the innermost open element (`/>` if it has no content).
  void end();

  /// start(name), text(value), end().
  [[nodiscard]] bool element(std::string_view name, std::string_view value);
  /// An element whose content is a non-negative decimal number.
  void element(std::string_view name, long long value);

  /// The error of the last refused value.
  const xml_value_error& last_error() const noexcept { return error_; }

  /// The document; all elements must have been closed.
  std::string finish() &&;

 private:
  void close_start_tag();
  bool append_escaped(std::string_view value, bool in_attribute);

  static constexpr std::size_t max_depth = 16;
  std::string out_;
  std::array<std::string_view, max_depth> open_{};
  std::size_t depth_ = 0;
  bool start_tag_open_ = false;
  xml_value_error error_;
};

}  // namespace ews::soap::detail
