#pragma once
/// @file
/// `ews::reconciler`: turns a gap reported by the listener into one
/// SyncFolderItems pass over that folder, whose findings go to the same sink
/// as streamed events (normally `item_fetcher::offer`), so the fetcher's
/// dedupe window drops what the stream already delivered and fetches the rest
/// with the same outcomes.
///
///     ews::reconcile_options o;
///     o.service = service;
///     o.store = store;                       // the same store as the listener's
///     o.events = {ews::event_type::new_mail};  // what the listener watches
///     o.sink = [&](ews::mailbox_event&& e) { return fetcher.offer(std::move(e)); };
///     o.drain = [&] { return fetcher.drain(std::chrono::minutes(1)); };
///     ews::reconciler rec(std::move(o));
///     // on a gap, from a thread of the application's (not the stream's):
///     rec.reconcile(gap, ctx);
///
/// The sync state of each folder is kept in the checkpoint store, so a later
/// gap only walks the changes since the previous pass. The first pass over a
/// folder walks it whole but hands on only items received since
/// `gap.since - slack` (see sync_poller_options::created_since).

#include <ews/checkpoint_store.hpp>
#include <ews/clock.hpp>
#include <ews/context.hpp>
#include <ews/events.hpp>
#include <ews/logging.hpp>
#include <ews/sync_poller.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ews {

namespace soap {
class service_client;
}

struct reconcile_options {
  /// Where SyncFolderItems goes (required).
  std::shared_ptr<soap::service_client> service;
  /// Sync states per folder. Null: in memory (every first pass walks the folder).
  std::shared_ptr<checkpoint_store> store;
  /// Null: a steady clock of our own.
  std::shared_ptr<ews::clock> time;
  logger log;
  std::string server_version = "Exchange2013_SP1";
  /// The event types the listener watches: creates become NewMail when it is
  /// listed (else Created), updates and read-flag changes Modified, deletes
  /// Deleted; kinds the listener does not watch are not handed on.
  std::vector<event_type> events{event_type::new_mail};
  /// Where found changes go (required); see sync_poller_options::sink.
  std::function<bool(mailbox_event&&)> sink;
  /// Optional; see sync_poller_options::sink_drain (e.g. a bounded
  /// `item_fetcher::drain`).
  std::function<bool()> drain;
  /// Tolerance for clock skew between us and the server when filtering by
  /// DateTimeReceived; items that early are handed on and deduplicated.
  std::chrono::seconds slack = std::chrono::minutes(5);
  int max_changes_returned = 512;
  sync_retry_options retry;
  /// Reports that do not stop a pass (a sync state that had to be reset).
  std::function<void(const error_info&)> on_error;
};

class reconciler {
 public:
  /// Throws ews::error (errc::invalid_argument) when service or sink is missing.
  explicit reconciler(reconcile_options options);
  ~reconciler();
  reconciler(const reconciler&) = delete;
  reconciler& operator=(const reconciler&) = delete;

  /// One pass over the gap's (mailbox, folder). Passes for one folder are
  /// serialised; different folders may run at once from different threads.
  /// Throws ews::error as sync_poller::run_once does.
  sync_run_result reconcile(const gap& g, const context& ctx);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews
