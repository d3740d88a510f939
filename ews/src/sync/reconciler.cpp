#include <ews/reconciler.hpp>

#include <map>
#include <mutex>

namespace ews {

struct reconciler::impl {
  reconcile_options options;
  std::mutex mutex;  // guards folder_locks
  // One lock per folder ever reconciled: bounded by the folders watched.
  std::map<folder_key, std::shared_ptr<std::mutex>> folder_locks;

  std::shared_ptr<std::mutex> lock_for(const folder_key& key) {
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = folder_locks[key];
    if (!slot) slot = std::make_shared<std::mutex>();
    return slot;
  }
};

reconciler::reconciler(reconcile_options options) {
  if (!options.service) throw ews::error(make_error(errc::invalid_argument, "reconcile_options::service is required"));
  if (!options.sink) throw ews::error(make_error(errc::invalid_argument, "reconcile_options::sink is required"));
  if (!options.store) options.store = make_memory_checkpoint_store();
  if (!options.time) options.time = make_steady_clock();
  impl_ = std::make_unique<impl>();
  impl_->options = std::move(options);
}

reconciler::~reconciler() = default;

sync_run_result reconciler::reconcile(const gap& g, const context& ctx) {
  if (g.folder_id.empty()) throw ews::error(make_error(errc::invalid_argument, "gap without a folder"));
  const auto& o = impl_->options;
  sync_poller_options p;
  p.service = o.service;
  p.store = o.store;
  p.time = o.time;
  p.log = o.log;
  p.mailbox = g.mailbox;
  p.folder = g.folder_id;
  p.server_version = o.server_version;
  p.max_changes_returned = o.max_changes_returned;
  p.retry = o.retry;
  p.sink = o.sink;
  p.sink_drain = o.drain;
  p.sink_events = o.events;
  p.on_error = o.on_error;
  if (g.since.time_since_epoch().count() > 0) p.created_since = g.since - o.slack;

  const auto folder_lock = impl_->lock_for({g.mailbox, g.folder_id});
  std::lock_guard<std::mutex> lock(*folder_lock);
  o.log(log_level::info, "reconciling " + (g.mailbox.empty() ? std::string("(own)") : g.mailbox) + "/" +
                             g.folder_id + " after a gap since " + to_iso8601(g.since) + " (" + g.reason + ")");
  sync_poller poller(std::move(p));
  return poller.run_once(ctx);
}

}  // namespace ews
