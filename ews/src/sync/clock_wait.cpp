#include "sync/clock_wait.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace ews::detail {

error_info context_error(const context& ctx) {
  if (ctx.cancelled()) return make_error(errc::cancelled, "cancelled by the caller");
  return make_error(errc::timeout, "the caller's deadline passed");
}

status wait_on_clock(clock& time, clock::duration delay, const context& ctx) {
  struct waiter {
    std::mutex mutex;
    std::condition_variable wake;
    bool fired = false;
    bool cancelled = false;
  };
  // Shared: the timer or the cancel callback may run after we returned.
  const auto w = std::make_shared<waiter>();
  if (ctx.done()) return context_error(ctx);
  const auto timer = time.schedule_after(delay, [w] {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->fired = true;
    w->wake.notify_all();
  });
  const auto registration = ctx.on_cancel([w] {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->cancelled = true;
    w->wake.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(w->mutex);
    const auto deadline = ctx.deadline();
    while (!w->fired && !w->cancelled) {
      if (deadline) {
        if (w->wake.wait_until(lock, *deadline) == std::cv_status::timeout) break;
      } else {
        w->wake.wait(lock);
      }
    }
    if (w->fired) return ok;
  }
  time.cancel(timer);
  return context_error(ctx);
}

}  // namespace ews::detail
