#include <ews/clock.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace ews {
namespace {

// Timers ordered by (due time, id): ids are increasing, so equal times keep
// scheduling order.
using timer_key = std::pair<clock::time_point, clock::timer_id>;
using timer_map = std::map<timer_key, std::function<void()>>;

bool erase_by_id(timer_map& timers, clock::timer_id id) {
  for (auto it = timers.begin(); it != timers.end(); ++it) {
    if (it->first.second == id) {
      timers.erase(it);
      return true;
    }
  }
  return false;
}

class steady_clock_timers final : public clock {
 public:
  steady_clock_timers() : worker_([this] { run(); }) {}
  ~steady_clock_timers() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }

  time_point now() const override { return std::chrono::steady_clock::now(); }

  timer_id schedule_at(time_point when, std::function<void()> fn) override {
    bool earlier = false;
    timer_id id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = ++last_id_;
      timers_.emplace(timer_key{when, id}, std::move(fn));
      // The worker only needs waking when it sleeps past this deadline: a
      // watchdog re-armed for every envelope is always later, and waking
      // the worker for it cost a futex wake, a context switch and the
      // worker's mutex round trip each time (measured). Not sleeping, the
      // worker looks at the map again before it does.
      earlier = when < sleeping_until_;
    }
    if (earlier) wake_.notify_all();  // unlocked: the worker takes the mutex at once
    return id;
  }

  bool cancel(timer_id id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return erase_by_id(timers_, id);
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      if (timers_.empty()) {
        sleep(lock, time_point::max());
        continue;
      }
      const auto due = timers_.begin()->first.first;
      if (std::chrono::steady_clock::now() < due) {
        sleep(lock, due);
        continue;
      }
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  void sleep(std::unique_lock<std::mutex>& lock, time_point until) {
    sleeping_until_ = until;
    if (until == time_point::max()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, until);
    }
    sleeping_until_ = time_point::min();  // awake: nothing is earlier
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  // While the worker waits on wake_: until when (max: until woken); min
  // while it is awake.
  time_point sleeping_until_ = time_point::min();
  timer_map timers_;
  timer_id last_id_ = 0;
  bool stopping_ = false;
  std::thread worker_;  // last: starts after the members it uses
};

}  // namespace

std::shared_ptr<clock> make_steady_clock() { return std::make_shared<steady_clock_timers>(); }

struct manual_clock::impl {
  mutable std::mutex mutex;
  time_point now{};  // starts at the epoch of steady_clock; only differences matter
  timer_map timers;
  timer_id last_id = 0;
};

manual_clock::manual_clock() : impl_(std::make_unique<impl>()) {}
manual_clock::~manual_clock() = default;

clock::time_point manual_clock::now() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->now;
}

clock::timer_id manual_clock::schedule_at(time_point when, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const timer_id id = ++impl_->last_id;
  impl_->timers.emplace(timer_key{when, id}, std::move(fn));
  return id;
}

bool manual_clock::cancel(timer_id id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return erase_by_id(impl_->timers, id);
}

void manual_clock::advance(duration d) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  const time_point target = impl_->now + d;
  while (!impl_->timers.empty() && impl_->timers.begin()->first.first <= target) {
    auto node = impl_->timers.extract(impl_->timers.begin());
    impl_->now = std::max(impl_->now, node.key().first);
    lock.unlock();
    node.mapped()();
    lock.lock();
  }
  impl_->now = target;
}

std::optional<clock::time_point> manual_clock::next_deadline() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->timers.empty()) return std::nullopt;
  return impl_->timers.begin()->first.first;
}

std::size_t manual_clock::pending() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->timers.size();
}

}  // namespace ews
