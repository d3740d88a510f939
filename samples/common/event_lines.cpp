#include "event_lines.hpp"

#include "json_line.hpp"

namespace ews::samples {

std::string sender_text(const item& i) {
  const auto& who = i.from ? i.from : i.sender;
  if (!who) return {};
  return who->email.empty() ? who->name : who->email;
}

std::string received_text(const item& i) {
  // Servers send "2026-11-22T17:54:23Z" or with fractions and an offset;
  // pass anything that is already ISO-8601 through unchanged.
  return i.date_time_received;
}

std::string item_line(const std::string& mailbox_label, const item_outcome& o) {
  const auto& ev = o.source.event;
  const item empty;
  const item& it = o.value ? *o.value : empty;
  // The event's ChangeKey names the version that was announced; gromox sends
  // none on NewMail, then the version GetItem returned is the one delivered.
  const std::string& change_key = !ev.item.change_key.empty() ? ev.item.change_key : it.id.change_key;
  const std::string& folder = !ev.parent_folder_id.empty() ? ev.parent_folder_id : it.parent_folder_id;
  return json_line()
      .field("type", "item")
      .field("mailbox", mailbox_label)
      .field("folder_id", folder)
      .field("event", soap::to_string(ev.type))
      .field("item_id", !ev.item.id.empty() ? ev.item.id : it.id.id)
      .field("change_key", change_key)
      .field("subject", it.subject)
      .field("from", sender_text(it))
      .field("received", received_text(it))
      .field("size", static_cast<std::int64_t>(it.size.value_or(0)))
      .str();
}

std::string gone_line(const std::string& mailbox_label, const item_outcome& o) {
  std::string reason = "ErrorItemNotFound";
  if (o.error && !o.error->response_code_text.empty()) reason = o.error->response_code_text;
  return json_line()
      .field("type", "gone")
      .field("mailbox", mailbox_label)
      .field("item_id", o.source.event.item.id)
      .field("reason", reason)
      .str();
}

std::string gap_line(const std::string& mailbox_label, const gap& g) {
  return json_line()
      .field("type", "gap")
      .field("mailbox", mailbox_label)
      .field("folder_id", g.folder_id)
      .field("since", to_iso8601(g.since))
      .field("reason", g.reason.empty() ? std::string("Unknown") : g.reason)
      .str();
}

std::string error_line(const error_info& e) {
  return json_line().field("type", "error").field("code", e.code_name()).field("message", e.message).str();
}

std::string change_line(const std::string& mailbox_label, const sync_event& e) {
  json_line l;
  l.field("type", to_string(e.change.kind))
      .field("mailbox", mailbox_label)
      .field("folder_id", e.change.value && !e.change.value->parent_folder_id.empty()
                              ? e.change.value->parent_folder_id
                              : e.folder_id)
      .field("item_id", e.change.id.id)
      .field("change_key", e.change.id.change_key);
  if (e.change.value) {
    const item& it = *e.change.value;
    l.field("subject", it.subject)
        .field("from", sender_text(it))
        .field("received", received_text(it))
        .field("size", static_cast<std::int64_t>(it.size.value_or(0)));
  }
  if (e.change.is_read) l.field("is_read", *e.change.is_read);
  return l.str();
}

}  // namespace ews::samples
