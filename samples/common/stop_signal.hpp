#pragma once
// SIGINT/SIGTERM as a cancellation: the signals are blocked in every thread
// and one thread waits for them with sigwait(), so nothing runs inside a
// signal handler. Construct it first in main(), before any other thread
// starts, so that every later thread inherits the blocked mask.

#include <ews/context.hpp>

#include <atomic>
#include <functional>
#include <thread>

namespace ews::samples {

class stop_signal {
 public:
  /// `on_signal` runs on the waiting thread with the signal's name.
  explicit stop_signal(std::function<void(const char* name)> on_signal);
  /// Wakes and joins the waiting thread.
  ~stop_signal();
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

 private:
  std::atomic<bool> quitting_{false};
  std::function<void(const char*)> on_signal_;
  std::thread waiter_;
};

}  // namespace ews::samples
