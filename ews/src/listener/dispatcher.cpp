#include "listener/dispatcher.hpp"

#include <exception>
#include <string>
#include <utility>

namespace ews::detail {
namespace {
// Far more than any healthy stream reports; reached only by a misbehaving
// server, where dropping the excess keeps memory bounded.
constexpr std::size_t max_queued_reports = 4096;
}  // namespace

dispatcher::dispatcher(dispatcher_options options)
    : options_(std::move(options)), thread_([this] { run(); }) {}

dispatcher::~dispatcher() {
  stop();
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();  // destroyed from a handler: the thread ends after it
    else
      thread_.join();
  }
}

bool dispatcher::offer(mailbox_event&& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return false;
  if (events_.size() >= options_.capacity) {
    if (!refused_) refusals_++;
    refused_ = true;
    return false;
  }
  events_.push_back(queued_event{std::move(e), unresolved_.enter(std::chrono::system_clock::now())});
  if (events_.size() > peak_) peak_ = events_.size();
  wake_.notify_one();
  return true;
}

void dispatcher::report(gap g) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  if (controls_.size() >= max_queued_reports) {
    dropped_reports_++;
    options_.log(log_level::error, "gap report dropped: too many unhandled reports");
    return;
  }
  const auto ticket = unresolved_.enter(g.since);
  controls_.push_back(queued_control{std::move(g), ticket});
  wake_.notify_one();
}

void dispatcher::report(error_info e) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  if (controls_.size() >= max_queued_reports) {
    dropped_reports_++;
    return;
  }
  controls_.push_back(queued_control{std::move(e), 0});
  wake_.notify_one();
}

void dispatcher::stop() {
  std::thread::id self = std::this_thread::get_id();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      abandoned_ += events_.size();
      if (!events_.empty())
        options_.log(log_level::warning,
                     std::to_string(events_.size()) + " queued notification(s) not handled at stop");
      events_.clear();
      controls_.clear();
      unresolved_.abandon_all();
    }
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != self) thread_.join();
}

std::optional<std::chrono::system_clock::time_point> dispatcher::oldest_unresolved() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return unresolved_.oldest();
}

void dispatcher::add_counters(listener_counters& c) const {
  std::lock_guard<std::mutex> lock(mutex_);
  c.delivered += delivered_;
  c.handler_errors += handler_errors_;
  c.refused += refusals_;
  c.abandoned += abandoned_;
  c.queue_depth += events_.size();
  c.peak_queue_depth = std::max(c.peak_queue_depth, peak_);
}

void dispatcher::call_error_handler(const error_info& e) {
  if (!options_.on_error) return;
  try {
    options_.on_error(e);
  } catch (...) {
    // The error handler itself failed: nowhere left to report but the log.
    options_.log(log_level::error, "the error handler threw");
  }
}

void dispatcher::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !events_.empty() || !controls_.empty(); });
    if (stopping_) return;
    if (!controls_.empty()) {
      queued_control next = std::move(controls_.front());
      controls_.pop_front();
      lock.unlock();
      control& c = next.what;
      if (auto* g = std::get_if<gap>(&c)) {
        if (options_.on_gap) {
          try {
            options_.on_gap(*g);
          } catch (const std::exception& ex) {
            call_error_handler(make_error(errc::handler_failed, std::string("the gap handler threw: ") + ex.what()));
          } catch (...) {
            call_error_handler(make_error(errc::handler_failed, "the gap handler threw"));
          }
        }
      } else {
        call_error_handler(std::get<error_info>(c));
      }
      lock.lock();
      if (next.ticket) unresolved_.leave(next.ticket);
      continue;
    }
    mailbox_event e = std::move(events_.front().event);
    const std::uint64_t ticket = events_.front().ticket;
    events_.pop_front();
    const bool ready = refused_ && events_.size() <= options_.capacity / 2;
    if (ready) refused_ = false;
    lock.unlock();
    if (ready && options_.on_ready) options_.on_ready();
    bool threw = false;
    std::string what;
    if (options_.on_notification) {
      try {
        options_.on_notification(e);
      } catch (const std::exception& ex) {
        threw = true;
        what = ex.what();
      } catch (...) {
        threw = true;
        what = "unknown exception";
      }
    }
    if (threw) call_error_handler(make_error(errc::handler_failed, "the notification handler threw: " + what));
    lock.lock();
    unresolved_.leave(ticket);
    delivered_++;
    if (threw) handler_errors_++;
  }
}

}  // namespace ews::detail
