#pragma once
// The four JSON line types of ews-listen (item, gone, gap, error) and the
// change line of ews-sync, exactly as the contract names the fields.

#include <ews/error.hpp>
#include <ews/events.hpp>
#include <ews/sync_poller.hpp>

#include <string>

namespace ews::samples {

/// `mailbox_label`: the --mailbox value, or the --user value for the own
/// mailbox (the event's mailbox is "" then).
std::string item_line(const std::string& mailbox_label, const item_outcome& o);
std::string gone_line(const std::string& mailbox_label, const item_outcome& o);
std::string gap_line(const std::string& mailbox_label, const gap& g);
std::string error_line(const error_info& e);
/// ews-sync: {"type":"create"|"update"|"delete"|"read_flag","mailbox",
/// "folder_id","item_id","change_key"[,"subject","from","received","size"][,"is_read"]}
std::string change_line(const std::string& mailbox_label, const sync_event& e);

/// "alice@example.com" or, for a sender without an address, its name.
std::string sender_text(const item& i);
/// DateTimeReceived as ISO-8601 UTC ("2026-11-22T17:54:23Z"); the server's
/// text unchanged when it cannot be read.
std::string received_text(const item& i);

}  // namespace ews::samples
