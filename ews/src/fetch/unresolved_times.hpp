#pragma once
// When each piece of work still in progress arrived (wall clock), so that a
// checkpoint never claims "delivered up to now" while older work is queued.
// Work dropped at stop() stays the oldest for good: the restart must go back
// at least that far. Not thread-safe: the owner holds its lock.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

namespace ews::detail {

class unresolved_times {
 public:
  using time_point = std::chrono::system_clock::time_point;

  /// Records work that arrived at `at`; the ticket ends it.
  std::uint64_t enter(time_point at) {
    open_.emplace(++last_ticket_, at);
    return last_ticket_;
  }
  void leave(std::uint64_t ticket) { open_.erase(ticket); }

  /// Everything still open will never be resolved (stop()).
  void abandon_all() {
    if (auto oldest = oldest_open()) abandoned_ = abandoned_ ? std::min(*abandoned_, *oldest) : *oldest;
    open_.clear();
  }

  /// The oldest arrival still open or ever abandoned; nullopt when neither.
  std::optional<time_point> oldest() const {
    auto oldest = oldest_open();
    if (abandoned_ && (!oldest || *abandoned_ < *oldest)) return abandoned_;
    return oldest;
  }

  std::size_t open() const noexcept { return open_.size(); }

 private:
  // A scan, not the first ticket: arrivals need not come in time order (a
  // gap's `since` is older than the report), and the wall clock may step
  // back. Called rarely (a checkpoint every few seconds) over a bounded queue.
  std::optional<time_point> oldest_open() const {
    std::optional<time_point> oldest;
    for (const auto& [ticket, at] : open_)
      if (!oldest || at < *oldest) oldest = at;
    return oldest;
  }

  std::map<std::uint64_t, time_point> open_;
  std::uint64_t last_ticket_ = 0;
  std::optional<time_point> abandoned_;
};

}  // namespace ews::detail
