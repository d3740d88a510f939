#pragma once
// Private: Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date.

#include <chrono>
#include <optional>
#include <string_view>

namespace ews::soap::detail {

/// The wait a Retry-After value asks for, measured from `now` for dates
/// (a date in the past gives 0). Clamped to one day so a hostile or broken
/// value cannot park a client forever. nullopt when unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime form) as a time point.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value);

}  // namespace ews::soap::detail
