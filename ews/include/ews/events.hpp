#pragma once
/// @file
/// What the listener, the item fetcher and the sync poller hand to the
/// application: outcomes of notifications, gaps, and errors.

#include <ews/error.hpp>
#include <ews/soap/responses.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace ews {

using soap::event_type;
using soap::item;
using soap::item_id;

/// One notification event, tagged with the mailbox it came from.
struct mailbox_event {
  std::string mailbox;  ///< SMTP address watched ("" = the authenticated user's own)
  std::string subscription_id;
  soap::notification_event event;
};

/// How one notification ended. Every fetchable notification ends in exactly
/// one outcome; nothing is dropped silently.
enum class outcome_kind {
  fetched,  ///< `value` holds the item as GetItem returned it
  gone,     ///< the item went away before it could be fetched (ErrorItemNotFound)
  failed,   ///< `error` says why; the item may still exist
  skipped,  ///< nothing to fetch (Deleted, folder events); reported for completeness
};

struct item_outcome {
  outcome_kind kind = outcome_kind::fetched;
  mailbox_event source;              ///< the notification (or sync change) behind it
  std::optional<item> value;         ///< for fetched
  std::optional<error_info> error;   ///< for gone (ErrorItemNotFound) and failed
};

/// A window in which events may have been missed for a (mailbox, folder):
/// a subscription was lost and re-created, the server reported
/// ErrorMissedNotificationEvents, or the process was down. Reconcile with the
/// sync poller.
struct gap {
  std::string mailbox;
  std::string folder_id;  ///< folder id, or the distinguished name ("inbox")
  std::chrono::system_clock::time_point since;  ///< events after this may be missing
  std::string reason;     ///< the ResponseCode that revealed it, or "Restart"
};

/// ISO-8601 UTC text for a time point ("2026-01-01T00:00:00Z").
std::string to_iso8601(std::chrono::system_clock::time_point t);

}  // namespace ews
