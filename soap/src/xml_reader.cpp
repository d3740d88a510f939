#include "xml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ews::soap::detail {
namespace {

constexpr std::string_view soap_uri = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view messages_uri = "http://schemas.microsoft.com/exchange/services/2006/messages";
constexpr std::string_view types_uri = "http://schemas.microsoft.com/exchange/services/2006/types";
constexpr std::string_view errors_uri = "http://schemas.microsoft.com/exchange/services/2006/errors";

bool is_xml_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_xml_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_xml_space(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::size_t find_nocase(std::string_view s, std::string_view needle) noexcept {
  if (needle.size() > s.size()) return std::string_view::npos;
  for (std::size_t i = 0; i + needle.size() <= s.size(); ++i)
    if (starts_with_nocase(s.substr(i), needle)) return i;
  return std::string_view::npos;
}

// An HTML page (IIS 401/403/500 pages, a proxy's login page) is a wrong
// answer, not broken XML: report it as unexpected_response, with its title,
// whether or not it happens to be well-formed.
std::optional<error_info> html_page_error(std::string_view text) {
  std::string_view s = text;
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  while (!s.empty() && is_xml_space(s.front())) s.remove_prefix(1);
  if (!starts_with_nocase(s, "<!doctype html") && !starts_with_nocase(s, "<html")) return std::nullopt;
  std::string message = "the server sent an HTML page instead of a SOAP envelope";
  const auto open = find_nocase(s.substr(0, 4096), "<title>");
  if (open != std::string_view::npos) {
    auto rest = s.substr(open + 7, 200);
    const auto close = rest.find('<');
    rest = trim(rest.substr(0, close));
    if (!rest.empty()) {
      message += ": ";
      message.append(rest.data(), rest.size());
    }
  }
  return make_error(errc::unexpected_response, std::move(message));
}

bool is_legal_xml_char(std::uint32_t c) noexcept {
  if (c < 0x20) return c == 0x9 || c == 0xA || c == 0xD;
  if (c >= 0xD800 && c <= 0xDFFF) return false;
  if (c == 0xFFFE || c == 0xFFFF) return false;
  return c <= 0x10FFFF;
}

}  // namespace

xml_ns classify_namespace_uri(std::string_view uri) noexcept {
  if (uri.empty()) return xml_ns::none;
  if (uri == types_uri) return xml_ns::types;
  if (uri == messages_uri) return xml_ns::messages;
  if (uri == soap_uri) return xml_ns::soap;
  if (uri == errors_uri) return xml_ns::errors;
  return xml_ns::other;
}

// ---- element ------------------------------------------------------------------

element::element(pugi::xml_node node) noexcept : element(node, pugi::xml_node()) {}

element::element(pugi::xml_node node, pugi::xml_node parent_declaring) noexcept
    : node_(node), outer_(parent_declaring) {
  if (node_) local_ = local_name(node_.name());
}

pugi::xml_node element::declaring() const noexcept {
  if (!declaring_known_) {
    declaring_ = outer_;
    for (pugi::xml_attribute a = node_.first_attribute(); a; a = a.next_attribute()) {
      const char* n = a.name();
      if (n[0] == 'x' && std::strncmp(n, "xmlns", 5) == 0 && (n[5] == '\0' || n[5] == ':')) {
        declaring_ = node_;
        break;
      }
    }
    declaring_known_ = true;
  }
  return declaring_;
}

xml_ns element::ns() const noexcept {
  if (!ns_) {
    const std::string_view qname(node_.name());
    const auto colon = qname.find(':');
    ns_ = resolve_prefix(colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon));
  }
  return *ns_;
}

xml_ns element::resolve_prefix(std::string_view prefix) const noexcept {
  // Elements between `node_` and `declaring_` declare nothing, so the search
  // starts at `declaring_`; above it every element is checked (those are few:
  // the readers never descend far below the Envelope's declarations).
  for (pugi::xml_node n = declaring(); n && n.type() == pugi::node_element; n = n.parent()) {
    for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
      const char* name = a.name();
      if (std::strncmp(name, "xmlns", 5) != 0) continue;
      if (prefix.empty() ? name[5] == '\0'
                         : (name[5] == ':' && std::string_view(name + 6) == prefix))
        return classify_namespace_uri(a.value());
    }
  }
  return prefix.empty() ? xml_ns::none : xml_ns::other;  // undeclared prefix
}

element element::first_child() const noexcept {
  pugi::xml_node n = node_ ? node_.first_child() : pugi::xml_node();
  while (n && n.type() != pugi::node_element) n = n.next_sibling();
  return element(n, declaring());
}

element element::next_sibling() const noexcept {
  pugi::xml_node n = node_ ? node_.next_sibling() : pugi::xml_node();
  while (n && n.type() != pugi::node_element) n = n.next_sibling();
  return element(n, outer_);
}

element element::child(xml_ns ns_wanted, std::string_view name) const noexcept {
  for (element c = first_child(); c; c = c.next_sibling())
    if (c.is(ns_wanted, name)) return c;
  return element(pugi::xml_node());
}

element element::child_any_ns(std::string_view name) const noexcept {
  for (element c = first_child(); c; c = c.next_sibling())
    if (c.local() == name) return c;
  return element(pugi::xml_node());
}

std::string_view element::text() const noexcept { return node_.text().get(); }

std::string_view element::trimmed_text() const noexcept { return trim(text()); }

std::string_view element::attribute(const char* name) const noexcept {
  return node_.attribute(name).value();
}

// ---- parsing --------------------------------------------------------------------

// Exchange writes control characters of item text as character references
// ("&#x1;"), which XML 1.0 forbids. Each such reference is *replaced* by
// U+FFFD rather than removed: the reader of a subject or body then sees that a
// character was lost, and words the character separated are not joined. It
// also keeps the rewrite in place (a reference is at least 4 bytes, U+FFFD is
// 3). pugixml would otherwise decode "&#x0;" to a NUL that silently cuts the
// text short. Literal references inside CDATA sections are rewritten too;
// Exchange does not use CDATA.
std::size_t replace_illegal_char_refs(char* data, std::size_t size) noexcept {
  std::size_t r = 0;
  std::size_t w = 0;
  while (r < size) {
    // Copy up to the next '&' in one go; most bytes are not references.
    const void* amp = std::memchr(data + r, '&', size - r);
    const std::size_t next = amp ? static_cast<std::size_t>(static_cast<const char*>(amp) - data) : size;
    if (next != r) {
      if (w != r) std::memmove(data + w, data + r, next - r);
      w += next - r;
      r = next;
      if (r == size) break;
    }
    if (data[r] == '&' && r + 1 < size && data[r + 1] == '#') {
      std::size_t i = r + 2;
      const bool hex = i < size && (data[i] == 'x' || data[i] == 'X');
      if (hex) ++i;
      const std::size_t digits_begin = i;
      std::uint32_t value = 0;
      bool overflow = false;
      for (; i < size; ++i) {
        const char c = data[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else break;
        if (value > 0x10FFFF) overflow = true;  // stop growing; still illegal
        else value = value * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
      }
      if (i > digits_begin && i < size && data[i] == ';' && (overflow || !is_legal_xml_char(value))) {
        data[w++] = '\xEF';
        data[w++] = '\xBF';
        data[w++] = '\xBD';
        r = i + 1;
        continue;
      }
    }
    data[w++] = data[r++];
  }
  return w;
}

namespace {

// Exchange has been seen to append a NUL after </Envelope> (otris-ews-cpp);
// trailing whitespace is harmless too. Both are cut before parsing.
std::string_view without_trailing_junk(std::string_view text) noexcept {
  while (!text.empty() && (text.back() == '\0' || is_xml_space(text.back()))) text.remove_suffix(1);
  return text;
}

std::optional<error_info> parse_buffer(char* data, std::size_t size, parsed_document& out) {
  if (std::string_view(data, size).find("&#") != std::string_view::npos) size = replace_illegal_char_refs(data, size);
  const pugi::xml_parse_result parsed =
      out.doc.load_buffer_inplace(data, size, pugi::parse_default | pugi::parse_embed_pcdata, pugi::encoding_utf8);
  if (!parsed) {
    // The offset is into the text as parsed: past a replaced character
    // reference it is a few bytes less than in the original.
    return make_error(errc::malformed_xml, "not well-formed XML at offset " + std::to_string(parsed.offset) +
                                               ": " + parsed.description());
  }
  return std::nullopt;
}

}  // namespace

std::optional<error_info> parse_envelope(std::string_view text, parsed_document& out) {
  text = without_trailing_junk(text);
  if (auto html = html_page_error(text)) return html;
  out.copy.assign(text.data(), text.size());
  return parse_buffer(out.copy.data(), out.copy.size(), out);
}

std::optional<error_info> parse_envelope_in_place(std::string& text, parsed_document& out) {
  const std::string_view kept = without_trailing_junk(text);
  if (auto html = html_page_error(kept)) return html;
  return parse_buffer(text.data(), kept.size(), out);
}

std::optional<bool> parse_bool(std::string_view s) noexcept {
  s = trim(s);
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_int(std::string_view s) noexcept {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace ews::soap::detail
