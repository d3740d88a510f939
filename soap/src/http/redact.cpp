#include "http/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace ews::soap::detail {
namespace {

constexpr std::string_view mask = "***";

char lower(char c) noexcept { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_name_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

constexpr std::array<std::string_view, 5> secret_keys = {"client_secret", "password", "access_token",
                                                         "refresh_token", "authorization"};

// Finds `key` case-insensitively as a whole word starting at or after `from`.
std::size_t find_key(const std::string& lowered, std::string_view key, std::size_t from) {
  while (true) {
    const auto at = lowered.find(key, from);
    if (at == std::string::npos) return at;
    const bool left_ok = at == 0 || !is_name_char(lowered[at - 1]);
    const std::size_t end = at + key.size();
    const bool right_ok = end >= lowered.size() || !is_name_char(lowered[end]);
    if (left_ok && right_ok) return at;
    from = at + 1;
  }
}

// Replaces the value that follows the key ending at `pos` in `out`, if the
// key is used as a form field, a JSON member or an XML element. Returns the
// position to continue scanning from.
std::size_t mask_value(std::string& out, std::size_t pos) {
  std::size_t i = pos;
  auto skip_blanks = [&] {
    while (i < out.size() && (out[i] == ' ' || out[i] == '\t')) ++i;
  };
  if (i < out.size() && out[i] == '=') {  // form: key=value&...
    const std::size_t start = i + 1;
    std::size_t end = start;
    while (end < out.size() && out[end] != '&' && out[end] != ' ' && out[end] != '"' && out[end] != '\'' &&
           out[end] != '\r' && out[end] != '\n' && out[end] != '<')
      ++end;
    if (end == start) return start;
    out.replace(start, end - start, mask);
    return start + mask.size();
  }
  if (i < out.size() && out[i] == '"') ++i;  // JSON: "key" : "value"
  skip_blanks();
  if (i < out.size() && out[i] == ':') {
    ++i;
    skip_blanks();
    if (i < out.size() && out[i] == '"') {
      const std::size_t start = i + 1;
      std::size_t end = start;
      while (end < out.size() && out[end] != '"') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end, out.size());
      out.replace(start, end - start, mask);
      return start + mask.size();
    }
    return i;
  }
  i = pos;  // XML: <p:Password attr="...">value</p:Password>
  while (i < out.size() && out[i] != '>' && out[i] != '<') ++i;
  if (i < out.size() && out[i] == '>' && out[i - 1] != '/') {
    const std::size_t start = i + 1;
    const auto end = out.find('<', start);
    if (end == std::string::npos) return start;
    out.replace(start, end - start, mask);
    return start + mask.size();
  }
  return pos;
}

}  // namespace

bool is_secret_header(std::string_view name) noexcept {
  return iequals(name, "Authorization") || iequals(name, "Proxy-Authorization") || iequals(name, "Cookie") ||
         iequals(name, "Set-Cookie") || iequals(name, "WWW-Authenticate") || iends_with(name, "-Token") ||
         iends_with(name, "-Secret") || iends_with(name, "-Key");
}

std::string redact_body(std::string_view body) {
  std::string out(body);
  for (auto key : secret_keys) {
    std::size_t from = 0;
    while (true) {
      std::string lowered(out.size(), '\0');
      std::transform(out.begin(), out.end(), lowered.begin(), lower);
      const auto at = find_key(lowered, key, from);
      if (at == std::string::npos) break;
      from = mask_value(out, at + key.size());
      if (from <= at) from = at + key.size();
    }
  }
  return out;
}

std::string format_headers(const http_headers& headers) {
  std::string out;
  for (const auto& h : headers) {
    out += h.name;
    out += ": ";
    if (is_secret_header(h.name)) {
      // Keep the scheme ("Bearer", "NTLM") and cookie names: useful, not secret.
      if (iequals(h.name, "Cookie") || iequals(h.name, "Set-Cookie")) {
        const auto eq = h.value.find('=');
        out += eq == std::string::npos ? std::string(mask) : h.value.substr(0, eq + 1) + std::string(mask);
      } else {
        const auto space = h.value.find(' ');
        out += space == std::string::npos ? std::string(mask) : h.value.substr(0, space + 1) + std::string(mask);
      }
    } else {
      out += redact_body(h.value);
    }
    out += "\r\n";
  }
  return out;
}

std::string trace_request(const http_request& request) {
  std::string out = request.method + " " + redact_body(request.url) + "\r\n";
  out += format_headers(request.headers);
  out += "\r\n";
  out += redact_body(request.body);
  return out;
}

std::string trace_response(const http_response_head& head, std::string_view body) {
  std::string out = std::to_string(head.status) + " " + head.reason + "\r\n";
  out += format_headers(head.headers);
  out += "\r\n";
  out += redact_body(body);
  return out;
}

}  // namespace ews::soap::detail
