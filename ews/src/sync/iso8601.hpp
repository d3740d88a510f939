#pragma once
// Reads the xs:dateTime values EWS sends (DateTimeReceived).

#include <chrono>
#include <optional>
#include <string_view>

namespace ews::detail {

/// "2026-11-22T17:54:23Z", with optional fraction and a Z or +hh:mm/-hh:mm
/// offset (none: UTC, as Exchange means it). nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace ews::detail
