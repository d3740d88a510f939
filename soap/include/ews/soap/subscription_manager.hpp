#pragma once
/// @file
/// Streaming subscriptions that never go silent: Subscribe, GetStreamingEvents,
/// renewal on Closed, reconnection with back-off on a lost stream, a watchdog
/// for silent streams, re-subscription (with a reported gap) when the server
/// forgets a subscription, throttling honoured, and a prompt stop().
///
/// The manager never runs application code: every notification event goes to
/// a `streaming_event_sink`, gaps and errors to two callbacks. All of them are
/// called from the manager's own threads (stream readers, a control worker)
/// and must return quickly without blocking.
///
/// What happens when:
///  - targets are sorted by address and cut into groups of at most
///    max_subscriptions_per_connection; the first address of a group is its
///    anchor (X-AnchorMailbox on every request of the group,
///    X-PreferServerAffinity on Subscribe); the X-BackEndOverrideCookie the
///    server sets is sent back as a Cookie on every later request of the group.
///    A target with a mailbox is subscribed impersonating it (ExchangeImpersonation
///    SmtpAddress); GetStreamingEvents and Unsubscribe impersonate the anchor / the
///    target.
///  - ConnectionStatus Closed: reopened at once with the same ids; the old
///    socket is closed by us.
///  - the body ends, is reset or is torn mid-envelope: the partial envelope
///    is dropped; reopened after a capped exponential back-off with jitter
///    (the back-off restarts once a stream delivered a readable envelope).
///  - no byte for heartbeat_timeout: the stream is cancelled and reopened.
///  - ErrorSubscriptionNotFound, ErrorInvalidSubscription,
///    ErrorExpiredSubscription, ErrorInvalidWatermark,
///    ErrorMissedNotificationEvents for some ids (ErrorSubscriptionIds) or all:
///    a gap per (mailbox, folder) of those subscriptions (since = the last
///    event or keep-alive seen for it), Subscribe again for exactly those,
///    reopen. The same id string coming back later is never trusted: only the
///    ids of the latest Subscribe are used.
///  - ErrorServerBusy (fault or message), HTTP 429/503: wait the larger of the
///    back-off and BackOffMilliseconds / Retry-After. ErrorExceededConnectionCount:
///    reported and backed off.
///  - HTTP 401 on a stream: the credential provider is asked to refresh once;
///    a second 401 is fatal (on_error with fatal = true; nothing is retried).
///  - an unreadable envelope: reported with a gap for the connection's
///    subscriptions, the stream reads on; bytes that cannot be framed: reported,
///    reopened.

#include <ews/clock.hpp>
#include <ews/error.hpp>
#include <ews/logging.hpp>
#include <ews/soap/envelope_splitter.hpp>
#include <ews/soap/responses.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/soap/streaming_counters.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ews::soap {

/// One thing to watch: folders of one mailbox, for some event types.
struct watch_target {
  std::string mailbox;               ///< SMTP address; "" = the authenticated user's own (no impersonation)
  std::vector<folder_ref> folders;   ///< at least one
  std::vector<event_type> events;    ///< at least one; not status/free_busy_changed
};

/// One notification event and the subscription it came through.
struct streaming_event {
  std::string mailbox;  ///< as in the watch_target
  std::string subscription_id;
  notification_event event;
};

/// Events may have been missed for (mailbox, folder) since `since`.
struct streaming_gap {
  std::string mailbox;
  std::string folder_id;  ///< the folder id, or the distinguished name
  std::chrono::system_clock::time_point since;
  std::string reason;     ///< the ResponseCode that revealed it
};

/// The consumer of notification events, with bounded capacity.
class streaming_event_sink {
 public:
  virtual ~streaming_event_sink() = default;
  /// Takes the event and returns true, or returns false when full, leaving
  /// `e` untouched. Must not block. After a false, the manager keeps the event
  /// (and everything after it) pending, stops reading the stream, and offers
  /// again after subscription_manager::resume().
  virtual bool offer(streaming_event&& e) = 0;
  /// Called after the manager offered every event it had at hand (all those
  /// of the envelopes one read of a stream completed), outside its lock: a
  /// sink that collects events (the item fetcher's batches) may send them
  /// now instead of waiting for more. Must not block. Default: nothing.
  virtual void end_of_burst() {}
};

/// Capped exponential back-off with jitter: attempt n waits
/// min(max, initial * multiplier^n) * (1 - jitter * r), r from `random` in [0, 1).
struct backoff_options {
  std::chrono::milliseconds initial = std::chrono::seconds(1);
  std::chrono::milliseconds max = std::chrono::seconds(60);
  double multiplier = 2.0;
  double jitter = 0.5;  ///< 0..1; the fraction of the delay that is randomised
  /// Source of r; null: a std::mt19937_64 seeded with `seed` (0: from std::random_device).
  std::function<double()> random;
  std::uint64_t seed = 0;
};

struct subscription_manager_options {
  /// Sends every request (Subscribe, GetStreamingEvents, Unsubscribe); required.
  std::shared_ptr<service_client> service;
  std::vector<watch_target> targets;
  /// ConnectionTimeout of each GetStreamingEvents, 1..30 minutes.
  int connection_timeout_minutes = 30;
  /// No byte for this long: the stream is dead and is reopened. The server
  /// sends a keep-alive every ~45 s, so the default is twice that.
  std::chrono::milliseconds heartbeat_timeout = std::chrono::seconds(90);
  /// Subscriptions per GetStreamingEvents connection, 1..200.
  std::size_t max_subscriptions_per_connection = 200;
  backoff_options backoff;
  /// The deadline of the best-effort Unsubscribe calls in stop().
  std::chrono::milliseconds unsubscribe_timeout = std::chrono::milliseconds(1000);
  /// RequestServerVersion of every request.
  std::string server_version = "Exchange2013_SP1";
  splitter_options splitter;
  /// Timers (back-off, watchdog); null: make_steady_clock().
  std::shared_ptr<ews::clock> clock;
  logger log;

  std::shared_ptr<streaming_event_sink> sink;  ///< required
  std::function<void(const streaming_gap&)> on_gap;
  /// `fatal`: the manager has stopped working (credentials refused); stop() it.
  std::function<void(const error_info&, bool fatal)> on_error;
};

/// Validates options (errc::invalid_argument naming the bad field).
status validate(const subscription_manager_options& options);

class subscription_manager {
 public:
  /// Throws ews::error (invalid_argument) for invalid options.
  explicit subscription_manager(subscription_manager_options options);
  /// Stops (see stop()).
  ~subscription_manager();
  subscription_manager(const subscription_manager&) = delete;
  subscription_manager& operator=(const subscription_manager&) = delete;

  /// Starts subscribing and streaming in the background; returns at once.
  void start();
  /// Cancels every stream and pending wait, sends a best-effort Unsubscribe
  /// for every live subscription within `unsubscribe_timeout`, and joins the
  /// manager's thread. Returns within about unsubscribe_timeout + 0.5 s
  /// whatever the server does. Idempotent.
  void stop();
  /// The sink has room again: deliver pending events and read on. Cheap,
  /// non-blocking, callable from any thread (also from inside offer()).
  void resume();
  /// True after a fatal error (until stop()).
  bool failed() const noexcept;

  streaming_counters counters() const;

  /// Number of GetStreamingEvents connections (groups of subscriptions).
  std::size_t connection_count() const noexcept;

  /// The wall-clock time before which every event the server sent has
  /// reached the sink: the oldest of each subscription's last envelope heard
  /// (frozen while its stream is down or paused by a full sink; a lost
  /// subscription keeps the time its gap reports).
  /// nullopt until every subscription has been created once (those refused
  /// for good do not count). Stays meaningful after stop().
  std::optional<std::chrono::system_clock::time_point> streaming_through() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace ews::soap
