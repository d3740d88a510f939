#pragma once
// The listener's dispatcher: one thread that calls the application's
// handlers, fed by a bounded queue of notifications (the default event
// stage) and a small queue of gaps and errors.

#include "fetch/unresolved_times.hpp"
#include "listener/event_stage.hpp"

#include <ews/logging.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <variant>

namespace ews::detail {

struct dispatcher_options {
  std::size_t capacity = 1000;  ///< notifications queued at most
  std::function<void(const mailbox_event&)> on_notification;
  std::function<void(const gap&)> on_gap;
  std::function<void(const error_info&)> on_error;
  /// Called on the dispatcher thread, no lock held, when the queue has
  /// drained to half its capacity after a refusal.
  std::function<void()> on_ready;
  logger log;
};

class dispatcher final : public event_stage {
 public:
  explicit dispatcher(dispatcher_options options);
  ~dispatcher() override;

  bool offer(mailbox_event&& e) override;
  void stop() override;
  void add_counters(listener_counters& c) const override;

  /// Gaps and errors are never refused; beyond a generous bound (a server
  /// flooding us with unreadable envelopes) they are dropped, counted, logged.
  void report(gap g);
  void report(error_info e);

  /// The oldest of: arrival of a queued notification, `since` of a gap not
  /// yet handed to on_gap; for good after stop() dropped them.
  std::optional<std::chrono::system_clock::time_point> oldest_unresolved() const;

  /// True on the dispatcher's own thread (inside a handler).
  bool runs_on_this_thread() const noexcept { return thread_id_ == std::this_thread::get_id(); }

 private:
  using control = std::variant<gap, error_info>;
  struct queued_event {
    mailbox_event event;
    std::uint64_t ticket;  // in unresolved_
  };
  struct queued_control {
    control what;
    std::uint64_t ticket;  // gaps only: in unresolved_ until on_gap has it
  };
  void run();
  void call_error_handler(const error_info& e);

  dispatcher_options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<queued_event> events_;
  std::deque<queued_control> controls_;
  unresolved_times unresolved_;
  bool stopping_ = false;
  bool refused_ = false;
  std::uint64_t delivered_ = 0;
  std::uint64_t handler_errors_ = 0;
  std::uint64_t refusals_ = 0;
  std::uint64_t abandoned_ = 0;
  std::uint64_t dropped_reports_ = 0;
  std::size_t peak_ = 0;
  std::thread thread_;  // last but one: starts after the members it uses
  const std::thread::id thread_id_ = thread_.get_id();
};

}  // namespace ews::detail
