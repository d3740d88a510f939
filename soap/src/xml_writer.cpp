#include "xml_writer.hpp"

#include <cassert>
#include <charconv>
#include <cstdio>

namespace ews::soap::detail {
namespace {

// What a byte needs, so the common case (plain ASCII) is one table lookup.
enum byte_class : unsigned char {
  plain,
  special,      // & < > " ' : always an entity
  whitespace,   // tab LF CR: a character reference where XML would normalise it
  control,      // other C0 controls: XML 1.0 cannot carry them at all
  multibyte,    // >= 0x80: validate as UTF-8
};

constexpr std::array<unsigned char, 256> make_classes() {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = control;
  t['\t'] = t['\n'] = t['\r'] = whitespace;
  t['&'] = t['<'] = t['>'] = t['"'] = t['\''] = special;
  for (int c = 0x80; c < 0x100; ++c) t[c] = multibyte;
  return t;
}
constexpr auto classes = make_classes();

std::string_view entity_for(char c) noexcept {
  switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&apos;";
    case '\t': return "&#9;";
    case '\n': return "&#10;";
    default: return "&#13;";  // '\r'
  }
}

bool is_continuation(unsigned char c) noexcept { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at s[i] (lead byte >= 0x80), or 0.
// Follows the Unicode table of well-formed byte sequences: no overlong forms,
// no surrogates, nothing above U+10FFFF.
std::size_t utf8_length(std::string_view s, std::size_t i, unsigned& cp) noexcept {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = at(0);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    cp = lead & 0x0Fu;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    cp = lead & 0x07u;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if (!is_continuation(at(k))) return 0;
    cp = (cp << 6) | (at(k) & 0x3Fu);
  }
  return len;
}

}  // namespace

std::string xml_value_error::describe() const {
  char buf[96];
  switch (why) {
    case reason::none:
      return "is valid";
    case reason::control_character:
    case reason::noncharacter:
      std::snprintf(buf, sizeof buf, "contains U+%04X at byte %zu, which XML 1.0 cannot carry",
                    code_point, offset);
      return buf;
    case reason::not_utf8:
      std::snprintf(buf, sizeof buf, "is not valid UTF-8 at byte %zu", offset);
      return buf;
  }
  return "is invalid";
}

xml_value_error check_xml_value(std::string_view value) noexcept {
  for (std::size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    switch (classes[c]) {
      case control:
        return {xml_value_error::reason::control_character, i, c};
      case multibyte: {
        unsigned cp = 0;
        const std::size_t len = utf8_length(value, i, cp);
        if (len == 0) return {xml_value_error::reason::not_utf8, i, 0};
        if (cp == 0xFFFE || cp == 0xFFFF) return {xml_value_error::reason::noncharacter, i, cp};
        i += len;
        break;
      }
      default:
        ++i;
    }
  }
  return {};
}

xml_writer::xml_writer(std::size_t capacity_hint) { out_.reserve(capacity_hint); }

void xml_writer::declaration() {
  assert(out_.empty());
  out_ += R"(<?xml version="1.0" encoding="utf-8"?>)";
}

void xml_writer::start(std::string_view name) {
  assert(depth_ < max_depth);
  close_start_tag();
  out_ += '<';
  out_ += name;
  open_[depth_++] = name;
  start_tag_open_ = true;
}

bool xml_writer::attribute(std::string_view name, std::string_view value) {
  assert(start_tag_open_);
  const std::size_t mark = out_.size();
  out_ += ' ';
  out_ += name;
  out_ += "=\"";
  if (!append_escaped(value, true)) {
    out_.resize(mark);
    return false;
  }
  out_ += '"';
  return true;
}

bool xml_writer::text(std::string_view value) {
  // A refused (or empty) value leaves the document exactly as it was.
  if (value.empty()) return true;
  const std::size_t mark = out_.size();
  const bool was_open = start_tag_open_;
  close_start_tag();
  if (!append_escaped(value, false)) {
    out_.resize(mark);
    start_tag_open_ = was_open;
    return false;
  }
  return true;
}

void xml_writer::end() {
  assert(depth_ > 0);
  const std::string_view name = open_[--depth_];
  if (start_tag_open_) {
    out_ += "/>";
    start_tag_open_ = false;
    return;
  }
  out_ += "</";
  out_ += name;
  out_ += '>';
}

bool xml_writer::element(std::string_view name, std::string_view value) {
  start(name);
  if (!text(value)) return false;
  end();
  return true;
}

void xml_writer::element(std::string_view name, long long value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  start(name);
  close_start_tag();
  out_.append(buf, r.ptr);
  end();
}

std::string xml_writer::finish() && {
  assert(depth_ == 0 && !start_tag_open_);
  return std::move(out_);
}

void xml_writer::close_start_tag() {
  if (start_tag_open_) {
    out_ += '>';
    start_tag_open_ = false;
  }
}

bool xml_writer::append_escaped(std::string_view value, bool in_attribute) {
  const std::size_t mark = out_.size();
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < value.size();) {
    // Most bytes are plain (ids are base64): skip them in a tight loop, not
    // one switch per byte (escaping was 5% of a fetch worker's time).
    while (i < value.size() && classes[static_cast<unsigned char>(value[i])] == plain) ++i;
    if (i == value.size()) break;
    const auto c = static_cast<unsigned char>(value[i]);
    switch (classes[c]) {
      case plain:
        ++i;
        break;
      case whitespace:
        // Attribute values have tab/LF/CR normalised to spaces, text has CR
        // folded into LF; character references survive both.
        if (!in_attribute && c != '\r') {
          ++i;
          break;
        }
        [[fallthrough]];
      case special:
        out_.append(value.data() + run, i - run);
        out_ += entity_for(static_cast<char>(c));
        run = ++i;
        break;
      case control:
        error_ = {xml_value_error::reason::control_character, i, c};
        out_.resize(mark);
        return false;
      default: {  // multibyte
        unsigned cp = 0;
        const std::size_t len = utf8_length(value, i, cp);
        if (len == 0 || cp == 0xFFFE || cp == 0xFFFF) {
          error_ = len == 0 ? xml_value_error{xml_value_error::reason::not_utf8, i, 0}
                            : xml_value_error{xml_value_error::reason::noncharacter, i, cp};
          out_.resize(mark);
          return false;
        }
        i += len;
      }
    }
  }
  out_.append(value.data() + run, value.size() - run);
  return true;
}

}  // namespace ews::soap::detail
