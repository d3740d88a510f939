#pragma once
/// @file
/// What the streaming subscription manager has done so far: a snapshot of
/// monotonically increasing counters, readable at any time.

#include <ews/soap/types.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ews::soap {

/// Why a stream was reopened.
enum class reconnect_cause {
  closed,              ///< the server sent ConnectionStatus Closed (normal renewal)
  ended,               ///< the body ended without Closed (server restart, proxy)
  transport_error,     ///< reset, torn mid-envelope, connect failure, timeout
  watchdog,            ///< no byte for the heartbeat timeout
  subscription_error,  ///< the server forgot a subscription; re-subscribed
  throttled,           ///< ErrorServerBusy, 429/503, ErrorExceededConnectionCount
  server_error,        ///< another error status, fault or unreadable envelope
  authentication,      ///< 401 answered by one credential refresh
};
inline constexpr std::size_t reconnect_cause_count = 8;

/// "closed", "watchdog", ...
const char* to_string(reconnect_cause cause) noexcept;

inline constexpr std::size_t event_type_count = 8;  ///< values of event_type

struct streaming_counters {
  std::uint64_t connections = 0;    ///< GetStreamingEvents streams opened
  std::uint64_t subscribes = 0;     ///< successful Subscribe calls
  std::uint64_t unsubscribes = 0;   ///< Unsubscribe calls sent
  std::array<std::uint64_t, reconnect_cause_count> reconnects{};  ///< by reconnect_cause
  std::uint64_t envelopes = 0;      ///< envelopes read from streams
  std::array<std::uint64_t, event_type_count> events{};           ///< by event_type, keep-alives included
  std::uint64_t gaps = 0;
  std::uint64_t errors = 0;         ///< errors reported to on_error
  std::uint64_t bytes = 0;          ///< body bytes read from streams
  std::uint64_t dropped_partial_envelopes = 0;

  std::uint64_t reconnects_for(reconnect_cause c) const { return reconnects[static_cast<std::size_t>(c)]; }
  std::uint64_t events_of(event_type t) const { return events[static_cast<std::size_t>(t)]; }
  std::uint64_t total_reconnects() const {
    std::uint64_t n = 0;
    for (auto v : reconnects) n += v;
    return n;
  }
};

}  // namespace ews::soap
