#pragma once
/// @file
/// `ews::item_fetcher`: turns notification events into items (GetItem by
/// ItemId and ChangeKey, in batches), and hands every outcome to the
/// application's handler exactly once, on the fetcher's own thread.
///
/// Flow: offer() -> per-mailbox batch (flushed when full, after `linger`, or
/// at end_of_burst() while a call slot is free)
/// -> at most `max_in_flight` GetItem calls -> outcomes -> bounded queue ->
/// one dispatcher thread -> on_outcome. offer() never blocks: when
/// `queue_limit` notifications are in progress it returns false, the caller
/// keeps the event and stops reading its stream until on_ready fires.
///
/// What each event becomes:
///  - NewMail, Created, Modified, Moved, Copied item events: fetched by
///    ItemId (+ChangeKey when the event has one) -> `fetched`, or `gone`
///    (ErrorItemNotFound), or `failed` (with the error). Moved/Copied keep
///    their OldItemId in `item_outcome::source`.
///  - Deleted, FreeBusyChanged and every folder event: `skipped`, no request.
///  - StatusEvent (a keep-alive, not a change): accepted, no outcome; counted
///    in `status_events`.
///  - A version already delivered (same ItemId and ChangeKey as an earlier
///    event, or as what an earlier GetItem returned), or already being
///    fetched: no outcome, counted in `duplicates`. This is the exactly-once
///    promise: the handler sees each item version once per process (and
///    across restarts when the window is persisted with dedupe_snapshot()).
/// So at any time: submitted == fetched + gone + failed + skipped +
/// duplicates + in_progress.
///
/// Errors of one item (ErrorItemNotFound, ErrorAccessDenied, ...) never stop
/// the rest of its batch. Whole-request failures that may pass (throttling,
/// 5xx, transport) are retried with capped exponential back-off (at least the
/// server's BackOffMilliseconds / Retry-After), then end as `failed`. A
/// response that cannot be read is split in halves and retried, so one
/// unreadable item fails alone.

#include <ews/clock.hpp>
#include <ews/error.hpp>
#include <ews/events.hpp>
#include <ews/logging.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ews {

namespace soap {
class service_client;
}

/// IdOnly plus what a mail listener needs without a second request:
/// ParentFolderId, ItemClass, Subject, From, ToRecipients, CcRecipients,
/// DateTimeReceived, DateTimeSent, InternetMessageId, Size, IsRead,
/// HasAttachments and Attachments (names, sizes, content types; no content).
/// No body and no MIME: set `include_body` / `include_mime_content` to get them.
soap::item_shape default_item_shape();

/// Retries of whole GetItem requests (and of items the server answered with a
/// transient per-item error such as ErrorServerBusy).
struct fetch_retry_options {
  /// Attempts after the first; then the ids end as `failed`.
  int max_retries = 5;
  /// Delay before retry n (1-based): min(max_delay, initial_delay * 2^(n-1)),
  /// the upper half randomised, and never less than the server's back-off.
  std::chrono::milliseconds initial_delay = std::chrono::milliseconds(500);
  std::chrono::milliseconds max_delay = std::chrono::seconds(30);
};

struct item_fetcher_options {
  /// Where GetItem goes (required). Shared with the listener; call() must be
  /// safe from several threads at once.
  std::shared_ptr<soap::service_client> service;
  /// Time for linger and back-off timers; null: a steady clock of our own.
  std::shared_ptr<ews::clock> time;
  logger log;

  soap::item_shape shape = default_item_shape();
  /// RequestServerVersion of every GetItem.
  std::string server_version = "Exchange2013_SP1";

  /// Ids per GetItem. 50 = the most events one Notification carries, so one
  /// notification becomes one request; a 50-item default-shape answer is about
  /// 100-200 KB and takes well under a second, far inside the one-minute limit
  /// of a batch request, and 50 ids cost one unit of the EWS concurrency
  /// budget instead of 50. 1..1000.
  std::size_t batch_size = 50;
  /// How long the first id of a partial batch waits for company. The events of
  /// one envelope are offered back to back (microseconds apart) and an
  /// envelope split across TCP segments completes within a millisecond or two
  /// on a LAN or WAN, so 5 ms collects them while adding a fraction of a
  /// GetItem round trip (20-200 ms against Exchange). 0: send at once.
  /// A caller that calls end_of_burst() (the listener does) rarely waits for
  /// it: linger is then the bound for a batch while every call slot is busy.
  std::chrono::milliseconds linger = std::chrono::milliseconds(5);
  /// GetItem calls at once (the fetcher's worker threads). Exchange's default
  /// EWSMaxConcurrency is 27 per account, shared with everything else the
  /// account does; 4 keeps a pipeline full without eating that budget. 1..64.
  std::size_t max_in_flight = 4;
  /// Notifications accepted but not yet through the handler (waiting in a
  /// batch, being fetched, or queued for the handler). At the limit offer()
  /// refuses. Bounds memory to about queue_limit items. >= 1.
  std::size_t queue_limit = 1000;
  /// Item versions remembered for deduplication (see dedupe_window; about
  /// 90 bytes each, so the default costs at most about 9 MB).
  std::size_t dedupe_capacity = 100000;
  fetch_retry_options retry;

  /// The application's handler (required). Runs on the fetcher's dispatcher
  /// thread, one outcome at a time; may block (back-pressure then stops the
  /// stream). An exception it throws is reported to on_error
  /// (errc::handler_failed) and the next outcome is still delivered.
  std::function<void(item_outcome&&)> on_outcome;
  /// Failures worth an operator's attention: a throwing handler, a batch that
  /// failed after its retries, work abandoned by stop(). Called from fetcher
  /// threads; must be thread-safe and quick.
  std::function<void(const error_info&)> on_error;
  /// Called once after offer() returned false, when the fetcher has room again
  /// (in_progress at or below queue_limit / 2, so a stream is not paused and
  /// resumed per event). Runs on a fetcher thread with no lock held; may call
  /// offer(). Wire it to the subscription manager's resume().
  std::function<void()> on_ready;
};

/// A consistent snapshot of the fetcher's counters.
struct item_fetcher_counters {
  std::uint64_t submitted = 0;       ///< events accepted by offer() (not StatusEvents)
  std::uint64_t status_events = 0;   ///< StatusEvents accepted and dropped
  std::uint64_t refused = 0;         ///< offer() calls answered false
  std::uint64_t batches = 0;         ///< batches formed (a split or retry is not a new batch)
  std::uint64_t get_item_calls = 0;  ///< GetItem requests sent, retries included
  std::uint64_t retries = 0;         ///< requests (or items) scheduled again after a transient failure
  std::uint64_t fetched = 0;
  std::uint64_t gone = 0;
  std::uint64_t failed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t handler_errors = 0;  ///< handler calls that threw
  std::uint64_t abandoned = 0;       ///< in progress when stop() was called
  std::size_t largest_batch = 0;     ///< most ids ever sent in one GetItem
  std::size_t in_progress = 0;       ///< accepted, outcome not yet through the handler
  std::size_t queue_depth = 0;       ///< outcomes waiting for the handler
  std::size_t peak_in_progress = 0;  ///< highest in_progress seen (never above queue_limit)
  std::size_t in_flight = 0;         ///< GetItem calls running now
};

class item_fetcher {
 public:
  /// Starts the worker and dispatcher threads. Throws ews::error
  /// (errc::invalid_argument naming the option) for invalid options.
  explicit item_fetcher(item_fetcher_options options);
  /// stop(), then waits for the threads. Must not run on the handler's thread.
  ~item_fetcher();
  item_fetcher(const item_fetcher&) = delete;
  item_fetcher& operator=(const item_fetcher&) = delete;

  /// Takes the event (true), or refuses it (false, `event` untouched) when
  /// queue_limit notifications are in progress or after stop(). Never blocks
  /// on the network or the handler; thread-safe.
  bool offer(mailbox_event&& event);

  /// Sends every partial batch now instead of after its linger.
  void flush();
  /// The caller has offered every event it has at hand (a listener: all
  /// events of what one read of a stream brought). Partial batches then leave
  /// as soon as a GetItem call slot is free instead of after `linger`; while
  /// all max_in_flight calls are busy they keep filling and leave when a call
  /// ends (or when full, or at the latest after linger). Optional: without it
  /// batches wait for their linger. Cheap; thread-safe.
  void end_of_burst();
  /// flush(), then waits until nothing is in progress (ids waiting for a
  /// back-off timer need the clock to move). True when idle, false on timeout.
  bool drain(std::chrono::milliseconds timeout);

  /// Stops accepting, cancels GetItem calls in flight and pending timers, and
  /// joins the workers; waits for a handler call already running, but starts
  /// no other. What was still in progress is counted in `abandoned` and
  /// reported once to on_error (errc::cancelled): a listener reports the gap
  /// it leaves. Items fetched but not yet handed to the handler leave the
  /// dedupe window again, so a later offer (a reconcile after a restart)
  /// fetches them instead of dropping them. Call drain() first for a
  /// graceful end. Idempotent; bounded by
  /// how fast the transport honours cancellation and the running handler.
  void stop();

  item_fetcher_counters counters() const;

  /// When the oldest event offered and not yet through the handler arrived
  /// (wall clock, taken at offer()); after stop(), the oldest event it
  /// abandoned, for good. nullopt when there is neither. A checkpoint's
  /// "delivered up to" time must not be later than this (see
  /// listener::delivered_through).
  std::optional<std::chrono::system_clock::time_point> oldest_unresolved() const;

  /// The dedupe window's keys (oldest first), for a checkpoint store.
  std::vector<std::string> dedupe_snapshot() const;
  /// Adds keys saved by dedupe_snapshot() (call before offering events).
  void restore_dedupe(const std::vector<std::string>& keys);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews
