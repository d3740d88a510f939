#include "auth/flat_json.hpp"

#include <cstdint>

namespace ews::auth::detail {
namespace {

class parser {
 public:
  explicit parser(std::string_view text) : s_(text) {}

  result<flat_json_object> parse() {
    flat_json_object object;
    skip_ws();
    if (!take('{')) return fail("expected '{'");
    skip_ws();
    if (!take('}')) {
      for (;;) {
        skip_ws();
        std::string name;
        if (!string(name)) return fail(error_);
        skip_ws();
        if (!take(':')) return fail("expected ':'");
        skip_ws();
        flat_json_value value;
        if (!member_value(value)) return fail(error_);
        if (!object.emplace(std::move(name), std::move(value)).second) return fail("duplicate member name");
        skip_ws();
        if (take(',')) continue;
        if (take('}')) break;
        return fail("expected ',' or '}'");
      }
    }
    skip_ws();
    if (pos_ != s_.size()) return fail("text after the object");
    return object;
  }

 private:
  error_info fail(const std::string& what) const {
    return make_error(errc::unexpected_response, "token response is not a flat JSON object: " + what +
                                                     " at offset " + std::to_string(pos_));
  }
  bool at_end() const noexcept { return pos_ >= s_.size(); }
  char peek() const noexcept { return at_end() ? '\0' : s_[pos_]; }
  bool take(char c) noexcept {
    if (peek() != c || at_end()) return false;
    ++pos_;
    return true;
  }
  bool take_word(std::string_view w) noexcept {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  void skip_ws() noexcept {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool error(const char* what) {
    error_ = what;
    return false;
  }

  bool member_value(flat_json_value& v) {
    const char c = peek();
    if (c == '"') {
      v.type = flat_json_value::kind::string;
      return string(v.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.type = flat_json_value::kind::number;
      return number(v.text);
    }
    if (take_word("true")) {
      v = {flat_json_value::kind::boolean, "true"};
      return true;
    }
    if (take_word("false")) {
      v = {flat_json_value::kind::boolean, "false"};
      return true;
    }
    if (take_word("null")) {
      v = {flat_json_value::kind::null, ""};
      return true;
    }
    if (c == '{' || c == '[') return error("nested objects and arrays are not accepted");
    return error("expected a value");
  }

  // RFC 8259 number grammar, kept as written.
  bool number(std::string& out) {
    const std::size_t start = pos_;
    take('-');
    if (take('0')) {
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9' && !at_end()) ++pos_;
    } else {
      return error("bad number");
    }
    if (take('.')) {
      if (!(peek() >= '0' && peek() <= '9') || at_end()) return error("bad number");
      while (peek() >= '0' && peek() <= '9' && !at_end()) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9') || at_end()) return error("bad number");
      while (peek() >= '0' && peek() <= '9' && !at_end()) ++pos_;
    }
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool hex4(std::uint32_t& v) {
    if (s_.size() - pos_ < 4) return error("short \\u escape");
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return error("bad \\u escape");
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool string(std::string& out) {
    if (!take('"')) return error("expected a string");
    for (;;) {
      if (at_end()) return error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair must follow
            std::uint32_t low = 0;
            if (!take_word("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) return error("lone surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return error("lone surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return error("bad escape");
      }
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace

result<flat_json_object> parse_flat_json(std::string_view text) { return parser(text).parse(); }

}  // namespace ews::auth::detail
