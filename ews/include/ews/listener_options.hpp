#pragma once
/// @file
/// What an `ews::listener` watches and how: an aggregate with defaulted
/// fields; set what you need, leave the rest.

#include <ews/clock.hpp>
#include <ews/credentials.hpp>
#include <ews/item_fetcher.hpp>
#include <ews/logging.hpp>
#include <ews/soap/subscription_manager.hpp>
#include <ews/soap/transport.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ews {

struct listener_options {
  /// The EWS endpoint, e.g. "https://outlook.office365.com/EWS/Exchange.asmx".
  std::string url;
  /// Puts credentials on every request; null: none (a server that needs none).
  std::shared_ptr<credential_provider> credentials;
  /// Options of the built-in HTTPS transport (CA file, plain-http opt-in, ...).
  soap::http_transport_options transport;
  /// Another transport instead of the built-in one (tests, custom engines).
  std::shared_ptr<soap::transport> http;

  /// SMTP addresses to watch through impersonation. Empty: the authenticated
  /// user's own mailbox only.
  std::vector<std::string> mailboxes;
  /// Distinguished folder names ("inbox", "sentitems", ...) or folder ids.
  std::vector<std::string> folders = {"inbox"};
  /// Event types to subscribe to (not status or free_busy_changed).
  std::vector<soap::event_type> events = {soap::event_type::new_mail};

  /// ConnectionTimeout of each GetStreamingEvents: 1..30 minutes. The stream
  /// is renewed (same subscriptions) when it ends.
  int connection_timeout_minutes = 30;
  /// No byte on a stream for this long: it is dead and is reopened.
  std::chrono::milliseconds heartbeat_timeout = std::chrono::seconds(90);
  /// Subscriptions per GetStreamingEvents connection: 1..200.
  std::size_t max_subscriptions_per_connection = 200;
  /// Back-off between reconnection attempts.
  soap::backoff_options backoff;
  /// Deadline of each Subscribe/Unsubscribe request.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(100);

  /// Notifications waiting for the handler. When full, the listener stops
  /// reading the stream (the server holds the events) until there is room.
  std::size_t queue_capacity = 1000;

  /// The fetch pipeline used with listener::on_item (batch size, linger,
  /// calls in flight, item shape, retries, dedupe capacity). `service`,
  /// `time`, `log`, `server_version` and the callbacks are set by the listener.
  item_fetcher_options fetch;
  /// Keys of the dedupe window saved earlier (item_fetcher::dedupe_snapshot),
  /// restored before the first notification so a restart does not re-deliver.
  std::vector<std::string> dedupe_keys;
  logger log;
  /// Time for back-off and watchdog; null: the steady clock.
  std::shared_ptr<ews::clock> clock;
  /// RequestServerVersion of every request.
  std::string server_version = "Exchange2013_SP1";
};

}  // namespace ews
