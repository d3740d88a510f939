#pragma once
// One JSON object per line (JSON Lines), built field by field with correct
// string escaping. Used for the sample programs' stdout contract.

#include <cstdint>
#include <string>
#include <string_view>

namespace ews::samples {

class json_line {
 public:
  json_line& field(std::string_view name, std::string_view value);
  // Without this, a string literal would pick the bool overload.
  json_line& field(std::string_view name, const char* value) { return field(name, std::string_view(value)); }
  json_line& field(std::string_view name, std::int64_t value);
  json_line& field(std::string_view name, bool value);
  /// The finished object with a trailing newline.
  std::string str() const { return text_ + "}\n"; }

 private:
  void key(std::string_view name);
  std::string text_ = "{";
};

/// Appends `value` to `out` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view value);

}  // namespace ews::samples
