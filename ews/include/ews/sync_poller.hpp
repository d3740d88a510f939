#pragma once
/// @file
/// `ews::sync_poller`: the changes of one (mailbox, folder) through
/// SyncFolderItems, resumable from a checkpoint store.
///
/// The poller is its own machine: the streaming listener never calls it.
/// Applications use it alone (polling), or to reconcile a folder after a gap
/// (see reconciler.hpp).
///
/// One run pages through SyncFolderItems until IncludesLastItemInRange. For
/// each page:
///   1. every change not already handed over (dedupe window) goes to
///      `on_change` and/or, as a mailbox_event, to `sink`;
///   2. then the dedupe window and the page's new SyncState are saved.
/// So a change is delivered at least once: a crash or a throwing handler
/// before step 2 makes the next run fetch the same page again, and the dedupe
/// window (saved with the state, and also when the handler throws) keeps the
/// changes already handed over from reaching the handler twice. After a hard
/// kill in the middle of a page, the changes of that page handed over since
/// the last save can come again: the window is written once per page, not
/// once per change, to keep one fsync per page.
///
/// ErrorInvalidSyncStateData (the server no longer accepts the stored state):
/// the state is cleared, the run starts over from an empty state (so every
/// item of the folder comes again, as creates), and this is reported to
/// on_error and in `sync_run_result::sync_state_reset`.
///
/// Throttling (ErrorServerBusy with BackOffMilliseconds, 429/503 with
/// Retry-After) and transient transport failures are retried after waiting on
/// the clock, at least as long as the server asked.

#include <ews/checkpoint_store.hpp>
#include <ews/clock.hpp>
#include <ews/context.hpp>
#include <ews/error.hpp>
#include <ews/events.hpp>
#include <ews/logging.hpp>
#include <ews/soap/responses.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ews {

namespace soap {
class service_client;
}

using soap::sync_change;
using soap::sync_change_kind;  // create, update, remove (Delete), read_flag_change

/// One change of a folder as the poller hands it to the application.
struct sync_event {
  std::string mailbox;    ///< "" = the authenticated user's own mailbox
  std::string folder_id;  ///< as configured (folder id or distinguished name)
  sync_change change;     ///< kind, ItemId (+ChangeKey), the item for Create/Update, IsRead
};

/// "create", "update", "delete", "read_flag".
const char* to_string(sync_change_kind kind) noexcept;

/// IdOnly plus ParentFolderId, ItemClass, Subject, DateTimeReceived, Size,
/// From and IsRead: enough for a one-line report of each change and for the
/// reconcile filter, without a GetItem.
soap::item_shape default_sync_item_shape();

/// Retries of one SyncFolderItems request.
struct sync_retry_options {
  /// Attempts after the first; then run_once() throws the last error.
  int max_retries = 5;
  /// Wait before retry n (1-based): min(max_delay, initial_delay * 2^(n-1)),
  /// the upper half randomised, never less than the server's back-off.
  std::chrono::milliseconds initial_delay = std::chrono::seconds(1);
  std::chrono::milliseconds max_delay = std::chrono::seconds(60);
};

struct sync_poller_options {
  /// Where SyncFolderItems goes (required).
  std::shared_ptr<soap::service_client> service;
  /// Sync states and the dedupe window. Null: an in-memory store. Records are
  /// keyed by (mailbox, folder): one consumer per folder and store (a poller
  /// and a reconciler on the same folder would take each other's changes).
  std::shared_ptr<checkpoint_store> store;
  /// Time for back-off and interval waits. Null: a steady clock of our own.
  std::shared_ptr<ews::clock> time;
  logger log;

  /// SMTP address; "" = the authenticated user's own mailbox. Otherwise sent
  /// as ExchangeImpersonation (SmtpAddress) with X-AnchorMailbox.
  std::string mailbox;
  /// A distinguished folder name ("inbox") or a folder id.
  std::string folder = "inbox";
  std::string server_version = "Exchange2013_SP1";
  /// MaxChangesReturned per page, 1..512.
  int max_changes_returned = 512;
  soap::item_shape shape = default_sync_item_shape();
  /// Pages per run at most; a run stopped by it resumes where it ended. Bounds
  /// one run against a server that never says IncludesLastItemInRange.
  std::size_t max_pages = 10000;
  /// Wait between runs of run().
  std::chrono::milliseconds interval = std::chrono::seconds(60);
  sync_retry_options retry;

  /// Changes remembered to filter re-delivered pages; 0: twice
  /// max_changes_returned. Only the page in flight can come again once its
  /// SyncState is saved, so a small window suffices and is cheap to save.
  std::size_t dedupe_capacity = 0;

  /// If set, Create changes whose DateTimeReceived is before this are not
  /// delivered (counted in `filtered`); the state still advances past them.
  /// Lets a reconcile deliver what arrived during a gap, not the whole folder
  /// when it was never synced before. Needs item:DateTimeReceived in `shape`;
  /// a create without a readable DateTimeReceived is delivered. An item moved
  /// into the folder keeps its old DateTimeReceived and is filtered too.
  std::optional<std::chrono::system_clock::time_point> created_since;

  /// The application's handler, on the thread calling run_once()/run(). If it
  /// throws, the run stops with errc::handler_failed, the page's SyncState is
  /// not saved, and the next run delivers the rest of that page.
  std::function<void(const sync_event&)> on_change;

  /// Optional: each change also becomes a mailbox_event offered here (wire it
  /// to item_fetcher::offer to fetch created/updated items with the same
  /// dedupe and outcomes as streamed ones). Create -> NewMail if
  /// `sink_events` has it, else Created; Update and ReadFlagChange ->
  /// Modified; Delete -> Deleted; kinds whose event type is not in
  /// `sink_events` are not offered. The event's parent_folder_id is the
  /// item's ParentFolderId when returned, else `folder`; subscription_id is
  /// empty. A refused offer (false) is retried every `sink_retry` until
  /// `sink_timeout`, then the run fails with errc::timeout.
  std::function<bool(mailbox_event&&)> sink;
  std::vector<event_type> sink_events{event_type::created, event_type::modified};
  std::chrono::milliseconds sink_retry = std::chrono::milliseconds(50);
  std::chrono::milliseconds sink_timeout = std::chrono::seconds(60);
  /// Optional: called after a page's events were offered and before its
  /// SyncState is saved, so that a crash cannot lose events the sink accepted
  /// but had not finished (wire it to `item_fetcher::drain`). Returning false
  /// fails the run with errc::timeout and leaves the page unsaved.
  std::function<bool()> sink_drain;

  /// Things worth an operator's attention that do not stop a run (the sync
  /// state was reset), and in run() the error of each failed run. Called on
  /// the polling thread.
  std::function<void(const error_info&)> on_error;
};

/// What one run did.
struct sync_run_result {
  std::size_t pages = 0;
  std::size_t changes = 0;     ///< changes in the pages received
  std::size_t delivered = 0;   ///< changes handed over (to on_change and/or sink)
  std::size_t duplicates = 0;  ///< changes the dedupe window held back
  std::size_t filtered = 0;    ///< creates received before created_since
  std::size_t retries = 0;     ///< requests sent again after a transient failure
  bool sync_state_reset = false;  ///< ErrorInvalidSyncStateData made it start over
  bool complete = false;          ///< ended on IncludesLastItemInRange (not max_pages)
  std::string sync_state;         ///< the SyncState saved last
};

class sync_poller {
 public:
  /// Throws ews::error (errc::invalid_argument naming the option).
  explicit sync_poller(sync_poller_options options);
  ~sync_poller();
  sync_poller(const sync_poller&) = delete;
  sync_poller& operator=(const sync_poller&) = delete;

  /// Pages from the stored SyncState until the folder is up to date.
  /// Throws ews::error: errc::checkpoint_corrupt / io_error from the store,
  /// handler_failed, cancelled / timeout (ctx, or a sink that stays full),
  /// and the request's error once retries are exhausted or for errors that
  /// retrying cannot fix. Runs of one poller are serialised.
  sync_run_result run_once(const context& ctx);

  /// Runs run_once() every `interval` until `ctx` is cancelled or past its
  /// deadline; the error of a failed run goes to on_error and the next run
  /// comes after the interval. Returns when ctx is done.
  void run(const context& ctx);

  const std::string& mailbox() const noexcept;
  const std::string& folder() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews
