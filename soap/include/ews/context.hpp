#pragma once
/// @file
/// `ews::context`: a deadline and a cancellation signal, passed last to every
/// call that may wait on the network.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace ews {

/// Cheap to copy; copies share the cancellation state. `cancel()` may be
/// called from any thread; registered callbacks run once, on the cancelling
/// thread (or at once when registering on an already cancelled context).
class context {
 public:
  using clock_type = std::chrono::steady_clock;

  /// No deadline; cancellable.
  context();

  /// A child that is cancelled when this one is, with a deadline no later
  /// than `deadline`.
  context with_deadline(clock_type::time_point deadline) const;
  context with_timeout(clock_type::duration timeout) const {
    return with_deadline(clock_type::now() + timeout);
  }

  void cancel() const;
  bool cancelled() const noexcept;
  /// Cancelled, or past the deadline.
  bool done() const noexcept;
  std::optional<clock_type::time_point> deadline() const noexcept { return deadline_; }

  /// RAII handle: the callback is unregistered when it is destroyed.
  class registration {
   public:
    registration() = default;
    registration(registration&&) noexcept = default;
    registration& operator=(registration&&) noexcept = default;
    ~registration();
   private:
    friend class context;
    struct impl;
    std::shared_ptr<impl> impl_;
  };
  /// Calls `fn` when this context (or a parent) is cancelled. Deadlines do not
  /// trigger callbacks: waits compare against deadline() themselves.
  [[nodiscard]] registration on_cancel(std::function<void()> fn) const;

  struct state;  // shared cancellation state (private)

 private:
  explicit context(std::shared_ptr<state> s, std::optional<clock_type::time_point> deadline);
  std::shared_ptr<state> state_;
  std::optional<clock_type::time_point> deadline_;
};

}  // namespace ews
