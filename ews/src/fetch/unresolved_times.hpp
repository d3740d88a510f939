#pragma once
// When each piece of work still in progress arrived (wall clock), so that a
// checkpoint never claims "delivered up to now" while older work is queued.
// Work dropped at stop() stays the oldest for good: the restart must go back
// at least that far. Not thread-safe: the owner holds its lock.
//
// Tickets are handed out in increasing order and mostly end in that order, so
// the open ones live in a deque sorted by ticket: entering appends, leaving
// marks the slot and pops what is done at the front. A slot that ends out of
// order stays until the front reaches it or until done slots outnumber open
// ones, when they are swept out; memory stays within twice the open work. A
// tree cost an allocation and a rebalance per event (measured in the pipeline
// bench).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace ews::detail {

class unresolved_times {
 public:
  using time_point = std::chrono::system_clock::time_point;

  /// Records work that arrived at `at`; the ticket ends it.
  std::uint64_t enter(time_point at) {
    slots_.push_back(slot{++last_ticket_, at, false});
    ++open_;
    return last_ticket_;
  }

  /// Ends the work of `ticket`; an unknown or already ended ticket is ignored.
  void leave(std::uint64_t ticket) {
    if (slots_.empty() || ticket < slots_.front().ticket) return;
    // Until a sweep, tickets in the deque are consecutive: found at once.
    auto it = slots_.begin();
    if (const std::uint64_t offset = ticket - slots_.front().ticket; offset < slots_.size()) {
      it += static_cast<std::ptrdiff_t>(offset);
    }
    if (it->ticket != ticket) {
      it = std::lower_bound(slots_.begin(), slots_.end(), ticket,
                            [](const slot& s, std::uint64_t t) { return s.ticket < t; });
    }
    if (it == slots_.end() || it->ticket != ticket || it->done) return;
    it->done = true;
    --open_;
    while (!slots_.empty() && slots_.front().done) slots_.pop_front();
    if (slots_.size() > 2 * open_ + sweep_slack) {
      slots_.erase(std::remove_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.done; }), slots_.end());
    }
  }

  /// Everything still open will never be resolved (stop()).
  void abandon_all() {
    if (auto oldest = oldest_open()) abandoned_ = abandoned_ ? std::min(*abandoned_, *oldest) : *oldest;
    slots_.clear();
    open_ = 0;
  }

  /// The oldest arrival still open or ever abandoned; nullopt when neither.
  std::optional<time_point> oldest() const {
    auto oldest = oldest_open();
    if (abandoned_ && (!oldest || *abandoned_ < *oldest)) return abandoned_;
    return oldest;
  }

  std::size_t open() const noexcept { return open_; }
  /// Slots held, open or not yet swept (for tests of the memory bound).
  std::size_t slots() const noexcept { return slots_.size(); }

 private:
  static constexpr std::size_t sweep_slack = 64;

  struct slot {
    std::uint64_t ticket;
    time_point at;
    bool done;
  };

  // A scan, not the first slot: arrivals need not come in time order (a
  // gap's `since` is older than the report), and the wall clock may step
  // back. Called rarely (a checkpoint every few seconds) over a bounded queue.
  std::optional<time_point> oldest_open() const {
    std::optional<time_point> oldest;
    for (const slot& s : slots_)
      if (!s.done && (!oldest || s.at < *oldest)) oldest = s.at;
    return oldest;
  }

  std::deque<slot> slots_;
  std::size_t open_ = 0;
  std::uint64_t last_ticket_ = 0;
  std::optional<time_point> abandoned_;
};

}  // namespace ews::detail
