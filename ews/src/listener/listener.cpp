#include <ews/listener.hpp>

#include <ews/soap/service_client.hpp>
#include <ews/soap/subscription_manager.hpp>

#include "listener/dispatcher.hpp"
#include "listener/event_stage.hpp"
#include "listener/fetch_stage.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace ews {
namespace {

error_info invalid(std::string what) { return make_error(errc::invalid_argument, std::move(what)); }

void validate(const listener_options& o) {
  if (o.url.empty()) throw error(invalid("listener_options.url is empty"));
  if (o.folders.empty()) throw error(invalid("listener_options.folders is empty"));
  for (const auto& f : o.folders)
    if (f.empty()) throw error(invalid("listener_options.folders holds an empty name"));
  if (o.events.empty()) throw error(invalid("listener_options.events is empty"));
  for (auto e : o.events)
    if (e == soap::event_type::status || e == soap::event_type::free_busy_changed)
      throw error(invalid("listener_options.events may not include Status or FreeBusyChanged"));
  if (o.connection_timeout_minutes < 1 || o.connection_timeout_minutes > 30)
    throw error(invalid("listener_options.connection_timeout_minutes must be 1..30"));
  if (o.heartbeat_timeout < std::chrono::seconds(1))
    throw error(invalid("listener_options.heartbeat_timeout must be at least 1 s"));
  if (o.max_subscriptions_per_connection < 1 || o.max_subscriptions_per_connection > 200)
    throw error(invalid("listener_options.max_subscriptions_per_connection must be 1..200"));
  if (o.queue_capacity < 1) throw error(invalid("listener_options.queue_capacity must be at least 1"));
  for (const auto& m : o.mailboxes)
    if (m.empty()) throw error(invalid("listener_options.mailboxes holds an empty address"));
}

soap::folder_ref to_folder(const std::string& name) {
  if (soap::is_distinguished_folder_name(name)) return soap::folder_ref::distinguished_folder(name);
  return soap::folder_ref::by_id(name);
}

// Hands the manager's events to the current stage as ews::mailbox_event.
class stage_sink final : public soap::streaming_event_sink {
 public:
  explicit stage_sink(std::shared_ptr<detail::event_stage> stage) : stage_(std::move(stage)) {}
  bool offer(soap::streaming_event&& e) override {
    mailbox_event m{std::move(e.mailbox), std::move(e.subscription_id), std::move(e.event)};
    if (stage_->offer(std::move(m))) return true;
    // Refused: give the event back untouched, as the manager expects.
    e.mailbox = std::move(m.mailbox);
    e.subscription_id = std::move(m.subscription_id);
    e.event = std::move(m.event);
    return false;
  }
  void end_of_burst() override { stage_->end_of_burst(); }

 private:
  std::shared_ptr<detail::event_stage> stage_;
};

}  // namespace

struct listener::impl {
  listener_options options;
  std::function<void(const mailbox_event&)> on_notification;
  std::function<void(item_outcome&&)> on_item;
  std::function<void(const gap&)> on_gap;
  std::function<void(const error_info&)> on_error;

  mutable std::mutex mutex;
  std::condition_variable changed;
  bool started = false;
  bool stopped = false;    // a stop() has begun
  bool stop_done = false;  // ... and finished
  std::optional<error_info> fatal;

  // Built by start() and published under `mutex`: counters(), stop() and
  // delivered_through() may run on other threads while start() is going.
  std::shared_ptr<detail::dispatcher> dispatcher;  // handlers' thread; gaps and errors
  std::shared_ptr<detail::event_stage> stage;      // where notifications go: the dispatcher, or the fetcher
  std::shared_ptr<item_fetcher> fetcher;          // with on_item only
  std::unique_ptr<soap::subscription_manager> manager;
  // The thread on_item runs on (the fetcher's), so that stop() called from
  // that handler does not wait for itself.
  std::atomic<std::thread::id> item_handler_thread{};

  struct parts {
    std::shared_ptr<detail::dispatcher> dispatcher;
    std::shared_ptr<detail::event_stage> stage;
    std::shared_ptr<item_fetcher> fetcher;
    soap::subscription_manager* manager = nullptr;  // lives as long as this impl
  };
  parts parts_locked() const { return {dispatcher, stage, fetcher, manager.get()}; }
  parts current_parts() const {
    std::lock_guard<std::mutex> lock(mutex);
    return parts_locked();
  }

  explicit impl(listener_options o) : options(std::move(o)) {}

  void start() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (started) throw error(make_error(errc::invalid_argument, "listener already started"));
      started = true;
    }
    if (!options.clock) options.clock = make_steady_clock();
    std::shared_ptr<soap::transport> http = options.http;
    if (!http) {
      soap::http_transport_options t = options.transport;
      if (!t.log.callback) t.log = options.log;
      http = std::shared_ptr<soap::transport>(soap::make_http_transport(std::move(t)));
    }
    soap::service_options so;
    so.url = options.url;
    so.http = http;
    so.credentials = options.credentials;
    so.request_timeout = options.request_timeout;
    so.log = options.log;
    auto service = std::make_shared<soap::service_client>(std::move(so));

    detail::dispatcher_options d;
    d.capacity = options.queue_capacity;
    d.on_notification = on_notification;
    d.on_gap = on_gap;
    d.on_error = on_error;
    d.log = options.log;
    // The queue has room again: the manager reads the paused streams on.
    d.on_ready = [this] { resume(); };
    auto created_dispatcher = std::make_shared<detail::dispatcher>(std::move(d));
    std::shared_ptr<detail::event_stage> created_stage = created_dispatcher;
    std::shared_ptr<item_fetcher> created_fetcher;
    if (on_item) {
      item_fetcher_options f = options.fetch;
      f.service = service;
      f.time = options.clock;
      f.log = options.log;
      f.server_version = options.server_version;
      f.on_outcome = [this, handler = on_item](item_outcome&& o) {
        item_handler_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
        handler(std::move(o));
      };
      f.on_error = [d = created_dispatcher](const error_info& e) { d->report(e); };
      f.on_ready = [this] { resume(); };  // the fetcher has room: read the streams on
      created_fetcher = std::make_shared<item_fetcher>(std::move(f));
      if (!options.dedupe_keys.empty()) created_fetcher->restore_dedupe(options.dedupe_keys);
      created_stage = std::make_shared<detail::fetch_stage>(created_fetcher);
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      dispatcher = created_dispatcher;
      stage = created_stage;
      fetcher = created_fetcher;
    }

    soap::subscription_manager_options m;
    m.service = service;
    std::vector<std::string> mailboxes = options.mailboxes;
    if (mailboxes.empty()) mailboxes.push_back("");
    for (auto& mb : mailboxes) {
      soap::watch_target t;
      t.mailbox = mb;
      for (const auto& f : options.folders) t.folders.push_back(to_folder(f));
      t.events = options.events;
      m.targets.push_back(std::move(t));
    }
    m.connection_timeout_minutes = options.connection_timeout_minutes;
    m.heartbeat_timeout = options.heartbeat_timeout;
    m.max_subscriptions_per_connection = options.max_subscriptions_per_connection;
    m.backoff = options.backoff;
    m.server_version = options.server_version;
    m.clock = options.clock;
    m.log = options.log;
    m.sink = std::make_shared<stage_sink>(created_stage);
    m.on_gap = [d = created_dispatcher](const soap::streaming_gap& g) {
      d->report(gap{g.mailbox, g.folder_id, g.since, g.reason});
    };
    m.on_error = [this, d = created_dispatcher](const error_info& e, bool is_fatal) {
      if (is_fatal) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!fatal) fatal = e;
        changed.notify_all();
      }
      d->report(e);
    };
    auto created = std::make_unique<soap::subscription_manager>(std::move(m));
    {
      std::lock_guard<std::mutex> lock(mutex);
      manager = std::move(created);
    }
    manager->start();
  }

  void resume() {
    soap::subscription_manager* m = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex);
      m = manager.get();
    }
    if (m) m->resume();  // the manager lives as long as this impl
  }

  bool on_handler_thread(const parts& p) const {
    return (p.dispatcher && p.dispatcher->runs_on_this_thread()) ||
           item_handler_thread.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  void stop() {
    parts p;
    {
      std::unique_lock<std::mutex> lock(mutex);
      if (stopped) {
        // Another call is stopping: return once it has, except on a
        // handler's thread, which that call may be waiting for.
        if (!on_handler_thread(parts_locked())) changed.wait(lock, [&] { return stop_done; });
        return;
      }
      stopped = true;
      p = parts_locked();
      changed.notify_all();
    }
    // The manager first: it stops offering before the stage stops taking.
    if (p.manager) p.manager->stop();
    // Items already being fetched get a short grace to reach the handler
    // (stop() must stay within its 2 s bound whatever the server does).
    if (p.fetcher) p.fetcher->drain(std::chrono::milliseconds(500));
    if (p.stage && p.stage != p.dispatcher) p.stage->stop();
    if (p.dispatcher) p.dispatcher->stop();
    std::lock_guard<std::mutex> lock(mutex);
    stop_done = true;
    changed.notify_all();
  }

  void run(const context& ctx) {
    start();
    {
      auto reg = ctx.on_cancel([this] {
        std::lock_guard<std::mutex> lock(mutex);
        changed.notify_all();
      });
      std::unique_lock<std::mutex> lock(mutex);
      auto done = [&] { return ctx.done() || fatal.has_value() || stopped; };
      if (auto deadline = ctx.deadline())
        changed.wait_until(lock, *deadline, done);
      else
        changed.wait(lock, done);
    }
    stop();
    std::lock_guard<std::mutex> lock(mutex);
    if (fatal) throw error(*fatal);
  }

  std::optional<std::chrono::system_clock::time_point> delivered_through() const {
    const parts p = current_parts();
    if (!p.manager) return std::nullopt;
    // The manager first: an event it hands on meanwhile is then seen by the
    // stage it went to.
    auto through = p.manager->streaming_through();
    if (!through) return std::nullopt;
    auto take = [&](std::optional<std::chrono::system_clock::time_point> t) {
      if (t && *t < *through) through = t;
    };
    take(p.dispatcher->oldest_unresolved());
    if (p.fetcher) take(p.fetcher->oldest_unresolved());
    return through;
  }

  listener_counters counters() const {
    listener_counters c;
    const parts p = current_parts();
    if (p.manager) c.streaming = p.manager->counters();
    if (p.stage) p.stage->add_counters(c);
    if (p.dispatcher && p.stage != p.dispatcher) p.dispatcher->add_counters(c);
    return c;
  }
};

listener::listener(listener_options options) {
  validate(options);
  impl_ = std::make_unique<impl>(std::move(options));
}

listener::~listener() {
  if (impl_) impl_->stop();
}

void listener::on_notification(std::function<void(const mailbox_event&)> handler) {
  impl_->on_notification = std::move(handler);
}
void listener::on_item(std::function<void(item_outcome&&)> handler) { impl_->on_item = std::move(handler); }
void listener::on_gap(std::function<void(const gap&)> handler) { impl_->on_gap = std::move(handler); }
void listener::on_error(std::function<void(const error_info&)> handler) { impl_->on_error = std::move(handler); }
void listener::start() { impl_->start(); }
void listener::stop() { impl_->stop(); }
void listener::run(const context& ctx) { impl_->run(ctx); }

bool listener::failed() const noexcept {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->fatal.has_value();
}

item_fetcher* listener::fetcher() noexcept {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->fetcher.get();
}

listener_counters listener::counters() const { return impl_->counters(); }

std::optional<std::chrono::system_clock::time_point> listener::delivered_through() const {
  return impl_->delivered_through();
}

}  // namespace ews
