#include "http/retry_after.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <strings.h>

namespace ews::soap::detail {
namespace {

constexpr std::chrono::milliseconds max_wait = std::chrono::hours(24);

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no
// timegm(), no TZ environment.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

int month_of(std::string_view s) noexcept {
  static constexpr std::array<const char*, 12> names = {"jan", "feb", "mar", "apr", "may", "jun",
                                                        "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() != 3) return 0;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (strncasecmp(s.data(), names[i], 3) == 0) return static_cast<int>(i) + 1;
  return 0;
}

// Splits on blanks, '-' inside RFC 850 dates and ',' are separators too.
struct cursor {
  std::string_view s;
  std::string_view next(bool dash_separates) {
    auto sep = [&](char c) { return c == ' ' || c == ',' || (dash_separates && c == '-'); };
    while (!s.empty() && sep(s.front())) s.remove_prefix(1);
    std::size_t n = 0;
    while (n < s.size() && !sep(s[n])) ++n;
    auto tok = s.substr(0, n);
    s.remove_prefix(n);
    return tok;
  }
};

std::optional<int> number(std::string_view s, std::size_t min_digits, std::size_t max_digits) {
  if (s.size() < min_digits || s.size() > max_digits) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<std::int64_t> time_of_day(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return std::nullopt;
  auto h = number(s.substr(0, 2), 2, 2), m = number(s.substr(3, 2), 2, 2), sec = number(s.substr(6, 2), 2, 2);
  if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return *h * 3600 + *m * 60 + *sec;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value) {
  value = trim(value);
  cursor c{value};
  std::string_view weekday = c.next(false);
  if (weekday.size() < 3) return std::nullopt;
  int day = 0, month = 0, year = 0;
  std::optional<std::int64_t> seconds;
  const bool asctime_form = value.find(',') == std::string_view::npos;
  if (asctime_form) {  // Sun Nov  6 08:49:37 1994
    month = month_of(c.next(false));
    auto d = number(c.next(false), 1, 2);
    seconds = time_of_day(c.next(false));
    auto y = number(c.next(false), 4, 4);
    if (!d || !y) return std::nullopt;
    day = *d;
    year = *y;
  } else {  // Sun, 06 Nov 1994 08:49:37 GMT  |  Sunday, 06-Nov-94 08:49:37 GMT
    const bool rfc850 = value.find('-') != std::string_view::npos;
    auto d = number(c.next(rfc850), 1, 2);
    month = month_of(c.next(rfc850));
    auto y = number(c.next(rfc850), 2, 4);
    seconds = time_of_day(c.next(false));
    if (!d || !y) return std::nullopt;
    day = *d;
    year = *y;
    if (year < 100) year += year < 70 ? 2000 : 1900;  // RFC 9110: two-digit years
  }
  if (month == 0 || day < 1 || day > 31 || !seconds) return std::nullopt;
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return std::chrono::system_clock::time_point(std::chrono::seconds(days * 86400 + *seconds));
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    std::int64_t secs = 0;
    for (char ch : value) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
      secs = secs * 10 + (ch - '0');
      if (secs > 86400) return max_wait;  // also stops overflow
    }
    return std::chrono::milliseconds(secs * 1000);
  }
  auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::milliseconds(0);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*when - now);
  return wait > max_wait ? max_wait : wait;
}

}  // namespace ews::soap::detail
