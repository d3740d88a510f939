// GetStreamingEvents responses: notifications, per-subscription errors and
// the connection status. Also tolerant of what real servers do differently
// from the schema (tests/fixtures/wire/README.md, "What real servers do").

#include "response_reader.hpp"

#include <limits>
#include <utility>

namespace ews::soap {
namespace detail {
namespace {

std::optional<event_type> event_from_element(std::string_view local) noexcept {
  // Checked by length first: most names are rejected without a compare.
  switch (local.size()) {
    case 11:
      if (local == "StatusEvent") return event_type::status;
      if (local == "CopiedEvent") return event_type::copied;
      break;
    case 10:
      if (local == "MovedEvent") return event_type::moved;
      break;
    case 12:
      if (local == "NewMailEvent") return event_type::new_mail;
      if (local == "CreatedEvent") return event_type::created;
      if (local == "DeletedEvent") return event_type::deleted;
      break;
    case 13:
      if (local == "ModifiedEvent") return event_type::modified;
      break;
    case 20:
      if (local == "FreeBusyChangedEvent") return event_type::free_busy_changed;
      break;
    default:
      break;
  }
  return std::nullopt;
}

void read_event(const element& e, event_type type, notification_event& out) {
  out.type = type;
  for (const element& c : children(e)) {
    const std::string_view n = c.local();
    if (n == "TimeStamp") out.timestamp = to_owned(c.trimmed_text());
    else if (n == "Watermark") out.watermark = to_owned(c.trimmed_text());
    else if (n == "ItemId") out.item = read_item_id(c);
    else if (n == "FolderId") {
      out.folder = read_item_id(c);
      out.is_folder_event = true;
    } else if (n == "ParentFolderId") out.parent_folder_id = to_owned(c.attribute("Id"));
    else if (n == "OldItemId") out.old_item = read_item_id(c);
    else if (n == "OldFolderId") out.old_folder = read_item_id(c);
    else if (n == "OldParentFolderId") out.old_parent_folder_id = to_owned(c.attribute("Id"));
    else if (n == "UnreadCount") {
      if (auto v = parse_int(c.text()); v && *v >= 0 && *v <= std::numeric_limits<int>::max()) out.unread_count = static_cast<int>(*v);
    }
  }
}

void read_notification(const element& n, notification& out) {
  // Events are large; count the children once instead of reallocating.
  std::size_t children_count = 0;
  for (pugi::xml_node c = n.node().first_child(); c; c = c.next_sibling()) ++children_count;
  out.events.reserve(children_count);
  for (const element& c : children(n)) {
    const std::string_view name = c.local();
    if (name == "SubscriptionId") out.subscription_id = to_owned(c.trimmed_text());
    else if (name == "PreviousWatermark") out.previous_watermark = to_owned(c.trimmed_text());
    else if (name == "MoreEvents") out.more_events = parse_bool(c.text()).value_or(false);
    else if (auto type = event_from_element(name); type && is_ews(c.ns())) {
      read_event(c, *type, out.events.emplace_back());
    }
    // Anything else (an event type newer than this reader) is skipped.
  }
}

std::optional<error_info> read_message(const element& m, get_streaming_events_message& out) {
  if (auto err = read_response_class(m, out.status)) return err;
  for (const element& c : children(m)) {
    if (read_status_child(c, out.status)) continue;
    const std::string_view name = c.local();
    if (name == "Notifications") {
      // m:Notification (Exchange 2013+, Exchange Online) or t:Notification (schema).
      for (const element& n : children(c)) {
        if (n.local() == "Notification" && is_ews(n.ns())) read_notification(n, out.notifications.emplace_back());
      }
    } else if (name == "ErrorSubscriptionIds") {
      // SubscriptionId in m:, t: or no namespace (gromox): any namespace.
      for (const element& id : children(c)) {
        if (id.local() == "SubscriptionId") out.error_subscription_ids.push_back(to_owned(id.trimmed_text()));
      }
    } else if (name == "ConnectionStatus") {
      const std::string_view s = c.trimmed_text();
      out.connection = s == "OK" ? connection_status::ok
                     : s == "Closed" ? connection_status::closed
                                     : connection_status::none;
    }
  }
  return std::nullopt;
}

}  // namespace
}  // namespace detail

using namespace detail;

connection_status get_streaming_events_response::connection() const {
  connection_status last = connection_status::none;
  for (const auto& m : messages)
    if (m.connection != connection_status::none) last = m.connection;
  return last;
}

result<get_streaming_events_response> read_get_streaming_events_response(std::string_view envelope) {
  std::string copy(envelope);
  return read_get_streaming_events_response_in_place(copy);
}

result<get_streaming_events_response> read_get_streaming_events_response_in_place(std::string& envelope) {
  parsed_document doc;
  auto op = open_response_in_place(envelope, doc, "GetStreamingEventsResponse");
  if (!op) return std::move(op).error();
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  get_streaming_events_response out;
  for (const element& m : children(*messages)) {
    if (auto err = read_message(m, out.messages.emplace_back())) return std::move(*err);
  }
  return out;
}

}  // namespace ews::soap
