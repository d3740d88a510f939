#pragma once
/// @file
/// `ews::listener`: watches mailboxes through EWS streaming notifications and
/// calls the application's handlers with every notification, every gap (a
/// window in which events may have been missed) and every error, on the
/// listener's own dispatcher thread, never on a stream's.
///
/// @code
///   ews::listener_options o;
///   o.url = "https://mail.example.com/EWS/Exchange.asmx";
///   o.credentials = my_credentials;
///   ews::listener l(o);
///   l.on_item([](ews::item_outcome&& o) { ... fetched, gone, failed, skipped ... });
///   // or, for the raw notifications without fetching:
///   // l.on_notification([](const ews::mailbox_event& e) { ... });
///   l.on_gap([](const ews::gap& g) { ... reconcile with the sync poller ... });
///   l.on_error([](const ews::error_info& e) { ... });
///   l.run(ctx);  // until ctx is cancelled, or a fatal error (thrown)
/// @endcode

#include <ews/context.hpp>
#include <ews/error.hpp>
#include <ews/events.hpp>
#include <ews/item_fetcher.hpp>
#include <ews/listener_options.hpp>
#include <ews/soap/streaming_counters.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace ews {

/// What the listener has done so far; readable at any time.
struct listener_counters {
  soap::streaming_counters streaming;  ///< connections, reconnects by cause, envelopes, events by type, gaps, bytes
  std::uint64_t delivered = 0;         ///< notifications handed to the handler
  std::uint64_t handler_errors = 0;    ///< handler calls that threw
  std::uint64_t refused = 0;           ///< times the full queue paused a stream
  std::uint64_t abandoned = 0;         ///< notifications still queued at stop()
  std::size_t queue_depth = 0;         ///< notifications waiting for the handler now
  std::size_t peak_queue_depth = 0;    ///< never above queue_capacity
  /// The item fetcher's own counters, when on_item is used.
  std::optional<item_fetcher_counters> fetch;
};

class listener {
 public:
  /// Validates the options; throws ews::error (errc::invalid_argument).
  explicit listener(listener_options options);
  /// stop(). Must not run on a handler's thread.
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Handlers: set before start(). Each runs on the dispatcher thread, one
  /// call at a time; a handler that throws is reported to the error handler
  /// (errc::handler_failed) and the next call still happens. A slow handler
  /// fills the queue, which pauses the streams: nothing is dropped.
  void on_notification(std::function<void(const mailbox_event&)> handler);
  /// Fetches what each notification names (GetItem by ItemId and ChangeKey,
  /// batched, deduplicated; see ews::item_fetcher and listener_options::fetch)
  /// and hands every outcome (fetched, gone, failed, skipped) to `handler` on
  /// the fetcher's dispatcher thread. Replaces on_notification. When the
  /// fetcher is full the streams pause: nothing is dropped.
  void on_item(std::function<void(item_outcome&&)> handler);
  void on_gap(std::function<void(const gap&)> handler);
  /// Errors the listener recovers from itself (it reconnects, re-subscribes,
  /// backs off) and the fatal one after which it has stopped working
  /// (errc::authentication: credentials refused after one refresh).
  void on_error(std::function<void(const error_info&)> handler);

  /// Creates the transport, subscribes and streams in the background;
  /// returns at once. Throws ews::error when already started.
  void start();
  /// Stops streaming, sends a best-effort Unsubscribe, and joins every thread
  /// the listener started. Returns within 2 s whatever the server does (plus
  /// a handler call already running). Queued notifications not yet handled
  /// are dropped and counted in `abandoned`; delivered_through() stays at or
  /// before them, so a checkpoint taken after stop() covers them. Idempotent:
  /// a call while another is stopping returns once that one has. May be called from
  /// a handler (the dispatcher then ends after that handler returns).
  void stop();
  /// start(), then waits until `ctx` is cancelled or past its deadline, or a
  /// fatal error happens; then stop(). Throws ews::error with the fatal error.
  void run(const context& ctx);

  /// True after a fatal error.
  bool failed() const noexcept;
  /// The item fetcher behind on_item (null before start() or without
  /// on_item): offer it events from elsewhere, such as a reconcile pass, so
  /// they share its dedupe window; drain() it; persist dedupe_snapshot().
  item_fetcher* fetcher() noexcept;
  listener_counters counters() const;

  /// The wall-clock time before which every event the server sent the
  /// listener has been handed to the handlers: the oldest of each
  /// subscription's last envelope heard (frozen while its stream is down or
  /// paused), of notifications and gaps not yet handled, and of work stop()
  /// dropped. nullopt until every subscription has been created once.
  ///
  /// What a checkpoint records as "last event time" so that a restart's gap
  /// starts early enough: save min(delivered_through(), `since` of every
  /// gap whose reconcile has not finished), never the current time, which may
  /// be later than events still queued or dropped at stop(). The reconcile's
  /// slack covers the remaining distance (the server's own notification delay
  /// and clock skew). Also valid after stop(): read it then for the final save.
  std::optional<std::chrono::system_clock::time_point> delivered_through() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews
