#pragma once
/// @file
/// Time as a dependency: every wait in the library (back-off, watchdog,
/// batching linger) is a timer on an `ews::clock`, so tests drive time with
/// `ews::manual_clock` instead of sleeping.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace ews {

/// A monotonic clock with one-shot timers.
///
/// Timer callbacks run on a thread owned by the clock (for `system_clock_timers`)
/// or on the thread calling `manual_clock::advance`; they must be short and
/// must not block. Cancelling a timer that has not started running guarantees
/// it never runs; a callback already running is not waited for.
class clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  using timer_id = std::uint64_t;

  virtual ~clock() = default;
  virtual time_point now() const = 0;
  /// Runs `fn` once at or after `when`. Returns an id for cancel().
  virtual timer_id schedule_at(time_point when, std::function<void()> fn) = 0;
  timer_id schedule_after(duration delay, std::function<void()> fn) {
    return schedule_at(now() + delay, std::move(fn));
  }
  /// Returns true if the timer was pending and will not run.
  virtual bool cancel(timer_id id) = 0;
};

/// The real clock: std::chrono::steady_clock and one timer thread, joined on
/// destruction (pending timers are dropped).
std::shared_ptr<clock> make_steady_clock();

/// A clock that only moves when told to. Thread-safe.
class manual_clock final : public clock {
 public:
  manual_clock();
  ~manual_clock() override;
  time_point now() const override;
  timer_id schedule_at(time_point when, std::function<void()> fn) override;
  bool cancel(timer_id id) override;
  /// Moves time forward by `d`, running every timer that falls due, in time
  /// order, on the calling thread (timers scheduled by those callbacks run too
  /// if they fall due within the step).
  void advance(duration d);
  /// Time of the earliest pending timer, if any (lets tests jump to it).
  std::optional<time_point> next_deadline() const;
  std::size_t pending() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews
