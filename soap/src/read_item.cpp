// GetItem and SyncFolderItems responses: items with the common Item fields
// of any item element (Message, CalendarItem, Contact, ...).

#include "response_reader.hpp"

#include <utility>

namespace ews::soap {
namespace detail {
namespace {

mailbox_address read_mailbox(const element& mailbox) {
  mailbox_address out;
  for (const element& c : children(mailbox)) {
    if (c.local() == "Name") out.name = to_owned(c.text());
    else if (c.local() == "EmailAddress") out.email = to_owned(c.trimmed_text());
  }
  return out;
}

// <t:From><t:Mailbox>...</t:Mailbox></t:From>
std::optional<mailbox_address> read_single_recipient(const element& e) {
  const element mailbox = e.child_any_ns("Mailbox");
  if (!mailbox) return std::nullopt;
  return read_mailbox(mailbox);
}

// <t:ToRecipients><t:Mailbox/>...</t:ToRecipients>
void read_recipients(const element& e, std::vector<mailbox_address>& out) {
  for (const element& c : children(e))
    if (c.local() == "Mailbox") out.push_back(read_mailbox(c));
}

void read_attachments(const element& e, std::vector<attachment_info>& out) {
  for (const element& a : children(e)) {
    const std::string_view kind = a.local();
    if (kind != "FileAttachment" && kind != "ItemAttachment" && kind != "ReferenceAttachment") continue;
    attachment_info info;
    info.is_item_attachment = kind == "ItemAttachment";
    for (const element& c : children(a)) {
      const std::string_view n = c.local();
      if (n == "AttachmentId") info.id = to_owned(c.attribute("Id"));
      else if (n == "Name") info.name = to_owned(c.text());
      else if (n == "ContentType") info.content_type = to_owned(c.trimmed_text());
      else if (n == "Size") info.size = parse_int(c.text());
      else if (n == "IsInline") info.is_inline = parse_bool(c.text()).value_or(false);
    }
    out.push_back(std::move(info));
  }
}

}  // namespace

// Dispatch on the local name only: the children of an item element are all
// in the types namespace, and the item element itself was matched by
// namespace. Unknown properties (Sensitivity, ResponseObjects, ...) are
// skipped without descending.
void read_item(const element& e, item& out) {
  out.element = to_owned(e.local());
  for (const element& c : children(e)) {
    const std::string_view n = c.local();
    switch (n.empty() ? '\0' : n.front()) {
      case 'A':
        if (n == "Attachments") read_attachments(c, out.attachments);
        break;
      case 'B':
        if (n == "Body") {
          const std::string_view type = c.attribute("BodyType");
          out.body_format = type == "HTML" ? body_type::html : type == "Text" ? body_type::text : body_type::best;
          out.body = to_owned(c.text());
        } else if (n == "BccRecipients") {
          read_recipients(c, out.bcc);
        }
        break;
      case 'C':
        if (n == "CcRecipients") read_recipients(c, out.cc);
        break;
      case 'D':
        if (n == "DateTimeReceived") out.date_time_received = to_owned(c.trimmed_text());
        else if (n == "DateTimeSent") out.date_time_sent = to_owned(c.trimmed_text());
        else if (n == "DateTimeCreated") out.date_time_created = to_owned(c.trimmed_text());
        break;
      case 'F':
        if (n == "From") out.from = read_single_recipient(c);
        break;
      case 'H':
        if (n == "HasAttachments") out.has_attachments = parse_bool(c.text());
        break;
      case 'I':
        if (n == "ItemId") out.id = read_item_id(c);
        else if (n == "ItemClass") out.item_class = to_owned(c.trimmed_text());
        else if (n == "InternetMessageId") out.internet_message_id = to_owned(c.trimmed_text());
        else if (n == "IsRead") out.is_read = parse_bool(c.text());
        break;
      case 'M':
        if (n == "MimeContent") out.mime_content = to_owned(c.text());
        break;
      case 'P':
        if (n == "ParentFolderId") out.parent_folder_id = to_owned(c.attribute("Id"));
        break;
      case 'S':
        if (n == "Subject") out.subject = to_owned(c.text());
        else if (n == "Size") out.size = parse_int(c.text());
        else if (n == "Sender") out.sender = read_single_recipient(c);
        break;
      case 'T':
        if (n == "ToRecipients") read_recipients(c, out.to);
        break;
      default:
        break;
    }
  }
}

namespace {

std::optional<error_info> read_get_item_message(const element& m, get_item_message& out) {
  if (auto err = read_response_class(m, out.status)) return err;
  for (const element& c : children(m)) {
    if (read_status_child(c, out.status)) continue;
    if (c.local() == "Items") {
      // One item per message (one message per requested id).
      for (const element& i : children(c)) {
        if (i.ns() != xml_ns::types) continue;
        read_item(i, out.value.emplace());
        break;
      }
    }
  }
  return std::nullopt;
}

void read_change(const element& c, sync_change_kind kind, std::vector<sync_change>& out) {
  sync_change change;
  change.kind = kind;
  for (const element& e : children(c)) {
    if (kind == sync_change_kind::create || kind == sync_change_kind::update) {
      if (e.ns() != xml_ns::types) continue;
      read_item(e, change.value.emplace());
      change.id = change.value->id;
      break;
    }
    if (e.local() == "ItemId") change.id = read_item_id(e);
    else if (e.local() == "IsRead") change.is_read = parse_bool(e.text());
  }
  out.push_back(std::move(change));
}

}  // namespace
}  // namespace detail

using namespace detail;

result<get_item_response> read_get_item_response(std::string_view envelope) {
  std::string copy(envelope);
  return read_get_item_response_in_place(copy);
}

result<get_item_response> read_get_item_response_in_place(std::string& envelope) {
  parsed_document doc;
  auto op = open_response_in_place(envelope, doc, "GetItemResponse");
  if (!op) return std::move(op).error();
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  // No reserve for the messages, measured three times: one block for 50 items
  // made glibc return memory to the kernel more often (page faults; 10-25%
  // more CPU per mail) than growing did.
  get_item_response out;
  for (const element& m : children(*messages)) {
    if (auto err = read_get_item_message(m, out.messages.emplace_back())) return std::move(*err);
  }
  return out;
}

result<sync_folder_items_response> read_sync_folder_items_response(std::string_view envelope) {
  parsed_document doc;
  auto op = open_response(envelope, doc, "SyncFolderItemsResponse");
  if (!op) return std::move(op).error();
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  const element message = messages->first_child();
  if (!message) return make_error(errc::unexpected_response, "SyncFolderItemsResponse without a message");
  sync_folder_items_response out;
  if (auto err = read_response_class(message, out.status)) return std::move(*err);
  for (const element& c : children(message)) {
    if (read_status_child(c, out.status)) continue;
    const std::string_view n = c.local();
    if (n == "SyncState") out.sync_state = to_owned(c.trimmed_text());
    else if (n == "IncludesLastItemInRange") out.includes_last_item_in_range = parse_bool(c.text()).value_or(true);
    else if (n == "Changes") {
      for (const element& ch : children(c)) {
        const std::string_view k = ch.local();
        if (k == "Create") read_change(ch, sync_change_kind::create, out.changes);
        else if (k == "Update") read_change(ch, sync_change_kind::update, out.changes);
        else if (k == "Delete") read_change(ch, sync_change_kind::remove, out.changes);
        else if (k == "ReadFlagChange") read_change(ch, sync_change_kind::read_flag_change, out.changes);
      }
    }
  }
  return out;
}

}  // namespace ews::soap
