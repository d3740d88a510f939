#pragma once
/// @file
/// Readers for EWS response envelopes. Namespace-aware by URI (any prefix or
/// none); unknown elements are skipped. Each reader takes one complete SOAP
/// envelope and returns owned values, or:
///  - errc::malformed_xml for text that is not well-formed XML,
///  - errc::unexpected_response for XML that is not the expected envelope,
///  - errc::soap_fault for a SOAP Fault (faultcode, faultstring, and the
///    detail's ResponseCode and BackOffMilliseconds in the error_info).
/// Per-message errors (ResponseClass Error) are not reader errors: they are
/// reported in each message's `status`, since one message may fail while the
/// next succeeds.
///
/// Recovery: character references to characters XML 1.0 forbids ("&#x1;",
/// which Exchange writes for control characters in item text) are read as
/// U+FFFD; NULs and whitespace after the envelope are ignored. An HTML page
/// (an IIS 401 page) is errc::unexpected_response.

#include <ews/result.hpp>
#include <ews/soap/types.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews::soap {

enum class response_class { success, warning, error };

/// The common part of every EWS ResponseMessage.
struct message_status {
  response_class cls = response_class::success;
  std::optional<response_code> code;  ///< nullopt if absent or unknown; see code_text
  std::string code_text;              ///< ResponseCode as sent ("" if absent)
  std::string message_text;
  /// MessageXml name/value pairs (t:Value Name="BackOffMilliseconds", ...).
  std::map<std::string, std::string> message_xml;
  /// BackOffMilliseconds from MessageXml, if present and numeric.
  std::optional<std::chrono::milliseconds> back_off;

  bool ok() const noexcept { return cls != response_class::error; }
  /// The status as an error_info (errc::ews_error or errc::throttled, transient
  /// where retrying can help); meaningful only when !ok().
  error_info to_error() const;
};

// ---- Subscribe / Unsubscribe -------------------------------------------------

struct subscribe_response {
  message_status status;
  std::string subscription_id;  ///< empty on error
  std::string watermark;        ///< streaming subscriptions have none
};
result<subscribe_response> read_subscribe_response(std::string_view envelope);

struct unsubscribe_response {
  message_status status;
};
result<unsubscribe_response> read_unsubscribe_response(std::string_view envelope);

// ---- GetStreamingEvents -----------------------------------------------------

/// One event of a notification. Item events fill `item`, folder events fill
/// `folder` (is_folder_event). Moved/Copied also fill the old_* fields.
struct notification_event {
  event_type type = event_type::status;
  std::string timestamp;  ///< as sent (ISO-8601); empty for StatusEvent
  std::string watermark;  ///< pull/push only; usually empty on streaming
  bool is_folder_event = false;
  item_id item;           ///< ItemId (id + ChangeKey) of item events
  item_id folder;         ///< FolderId of folder events
  std::string parent_folder_id;
  item_id old_item;       ///< Moved/Copied item events
  item_id old_folder;     ///< Moved/Copied folder events
  std::string old_parent_folder_id;
  std::optional<int> unread_count;  ///< folder ModifiedEvent
};

struct notification {
  std::string subscription_id;
  std::string previous_watermark;
  bool more_events = false;
  std::vector<notification_event> events;
};

enum class connection_status { none, ok, closed };

struct get_streaming_events_message {
  message_status status;
  std::vector<notification> notifications;
  /// Subscriptions the error applies to (m: or t: or no namespace accepted).
  /// Empty with an error status: the error applies to all of the connection's.
  std::vector<std::string> error_subscription_ids;
  connection_status connection = connection_status::none;
};

struct get_streaming_events_response {
  std::vector<get_streaming_events_message> messages;
  /// Convenience: the last ConnectionStatus seen in any message.
  connection_status connection() const;
};
result<get_streaming_events_response> read_get_streaming_events_response(std::string_view envelope);
/// The same, parsing `envelope` where it lies (see read_get_item_response_in_place).
result<get_streaming_events_response> read_get_streaming_events_response_in_place(std::string& envelope);

// ---- GetItem ----------------------------------------------------------------

struct mailbox_address {
  std::string name;
  std::string email;
};

struct attachment_info {
  std::string id;
  std::string name;
  std::string content_type;
  std::optional<std::int64_t> size;
  bool is_inline = false;
  bool is_item_attachment = false;
};

/// An item as GetItem returned it (Message, and the common Item fields of any
/// other item class; `item_class` says which element it was).
struct item {
  std::string element;     ///< "Message", "CalendarItem", "Contact", ...
  item_id id;
  std::string parent_folder_id;
  std::string item_class;  ///< ItemClass ("IPM.Note")
  std::string subject;
  std::optional<mailbox_address> from;
  std::optional<mailbox_address> sender;
  std::vector<mailbox_address> to;
  std::vector<mailbox_address> cc;
  std::vector<mailbox_address> bcc;
  std::string date_time_received;  ///< ISO-8601 as sent
  std::string date_time_sent;
  std::string date_time_created;
  std::string internet_message_id;
  std::optional<std::int64_t> size;
  std::optional<bool> is_read;
  std::optional<bool> has_attachments;
  std::vector<attachment_info> attachments;
  std::optional<body_type> body_format;  ///< set when a Body was returned
  std::string body;
  std::string mime_content;  ///< base64 MimeContent as sent, when asked
};

struct get_item_message {
  message_status status;
  std::optional<item> value;  ///< absent on error (ErrorItemNotFound, ...)
};
struct get_item_response {
  std::vector<get_item_message> messages;  ///< one per requested id, in order
};
result<get_item_response> read_get_item_response(std::string_view envelope);
/// The same, parsing `envelope` where it lies instead of a copy of it (an
/// answer for 50 items is hundreds of KB). `envelope`'s content is
/// unspecified afterwards; its capacity stays with it.
result<get_item_response> read_get_item_response_in_place(std::string& envelope);

// ---- SyncFolderItems --------------------------------------------------------

enum class sync_change_kind { create, update, remove, read_flag_change };

struct sync_change {
  sync_change_kind kind = sync_change_kind::create;
  item_id id;                   ///< the item (for remove: ItemId only)
  std::optional<item> value;    ///< Create/Update: the item as returned
  std::optional<bool> is_read;  ///< ReadFlagChange
};

struct sync_folder_items_response {
  message_status status;
  std::string sync_state;
  bool includes_last_item_in_range = true;
  std::vector<sync_change> changes;
};
result<sync_folder_items_response> read_sync_folder_items_response(std::string_view envelope);

// ---- Any operation ----------------------------------------------------------

/// The statuses of any EWS response (DeleteItem, CreateFolder, ...), for
/// operations without a dedicated reader.
struct generic_response {
  std::string operation;                 ///< "DeleteItemResponse", ...
  std::vector<message_status> messages;  ///< one per ResponseMessage, in order
};
result<generic_response> read_generic_response(std::string_view envelope);

// ---- Shared -----------------------------------------------------------------

/// If `envelope` is a SOAP Fault, the fault as an error (errc::soap_fault, or
/// errc::throttled for ErrorServerBusy); otherwise nullopt. Lets callers map
/// an HTTP 500 body without knowing which operation it answered.
std::optional<error_info> read_fault(std::string_view envelope);

}  // namespace ews::soap
