#include "http/cookies.hpp"

#include "http/request_rules.hpp"

#include <cctype>
#include <strings.h>

namespace ews::soap::detail {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether `s` (the text right after a comma) begins a new cookie: optional
// blanks, a token, optional blanks, then '=' (or ';' or the end). An
// expires date ("Wed, 21 Oct 2026 ...") never matches: "21" is followed by
// a blank and more text.
bool starts_cookie(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  const std::size_t token_start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  if (i == token_start) return false;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  // `name=` starts a cookie; a lone token before ';' or the end is a
  // malformed one (skipped later), still not part of the previous value.
  return i == s.size() || s[i] == '=' || s[i] == ';';
}

void add_cookie(std::string_view part, std::vector<cookie>& out) {
  const auto semi = part.find(';');
  std::string_view pair = trim(part.substr(0, semi));
  const auto eq = pair.find('=');
  if (eq == std::string_view::npos) return;
  std::string_view name = trim(pair.substr(0, eq));
  std::string_view value = trim(pair.substr(eq + 1));
  if (name.empty()) return;
  for (char c : name)
    if (!is_token_char(c)) return;
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  out.push_back(cookie{std::string(name), std::string(value)});
}

}  // namespace

std::vector<cookie> parse_set_cookie(std::string_view value) {
  std::vector<cookie> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == ',' && starts_cookie(value.substr(i + 1))) {
      add_cookie(value.substr(start, i - start), out);
      start = i + 1;
    }
  }
  add_cookie(value.substr(start), out);
  return out;
}

std::vector<cookie> cookies_from_headers(const http_headers& headers) {
  std::vector<cookie> out;
  for (const auto& h : headers) {
    if (strcasecmp(h.name.c_str(), "Set-Cookie") != 0) continue;
    for (auto& c : parse_set_cookie(h.value)) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace ews::soap::detail
