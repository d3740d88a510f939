#pragma once
/// @file
/// SOAP 1.1 request envelopes for the EWS operations the library uses.
///
/// Every builder validates its arguments first (an `errc::invalid_argument`
/// result names the bad one) and writes every caller-supplied string through
/// an XML writer that escapes it; nothing is assembled by concatenation.
/// Output validates against Microsoft's messages.xsd/types.xsd (tests prove it).

#include <ews/result.hpp>
#include <ews/soap/types.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ews::soap {

/// What every envelope carries in its SOAP header.
struct envelope_options {
  /// RequestServerVersion/@Version, an ExchangeVersionType value.
  /// Exchange2013_SP1 is the oldest version
  /// with everything this library uses and is accepted by Exchange 2013-2019,
  /// Exchange Online and gromox.
  std::string server_version = "Exchange2013_SP1";
  /// ExchangeImpersonation header, when acting for another mailbox.
  std::optional<impersonation> impersonate;
};

/// Subscribe with StreamingSubscriptionRequest.
struct subscribe_request {
  std::vector<folder_ref> folders;  ///< at least one, unless all_folders
  bool all_folders = false;         ///< SubscribeToAllFolders (folders then optional)
  std::vector<event_type> events;   ///< at least one; status not allowed
};
result<std::string> build_subscribe(const envelope_options& env, const subscribe_request& req);

/// GetStreamingEvents: 1..200 subscription ids, connection_timeout_minutes 1..30.
struct get_streaming_events_request {
  std::vector<std::string> subscription_ids;
  int connection_timeout_minutes = 30;
};
result<std::string> build_get_streaming_events(const envelope_options& env,
                                               const get_streaming_events_request& req);

/// Unsubscribe one subscription.
result<std::string> build_unsubscribe(const envelope_options& env, const std::string& subscription_id);

/// GetItem for 1..N item ids (each with its ChangeKey when it has one; an
/// empty ChangeKey leaves the attribute out). Batch sizes are the caller's
/// choice: EWS allows a batch at most about a minute of server time.
struct get_item_request {
  std::vector<item_id> items;
  item_shape shape;
};
result<std::string> build_get_item(const envelope_options& env, const get_item_request& req);

/// SyncFolderItems: one page of changes since `sync_state` (empty: from the start).
struct sync_folder_items_request {
  folder_ref folder;
  std::string sync_state;
  int max_changes_returned = 512;  ///< 1..512
  item_shape shape;
};
result<std::string> build_sync_folder_items(const envelope_options& env,
                                            const sync_folder_items_request& req);

}  // namespace ews::soap
