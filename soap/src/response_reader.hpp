#pragma once
// Private: the envelope walk shared by every response reader (Envelope ->
// Body -> operation element -> ResponseMessages), ResponseMessage status
// fields, and SOAP Faults.

#include "xml_reader.hpp"

#include <ews/result.hpp>
#include <ews/soap/responses.hpp>

#include <string_view>

namespace ews::soap::detail {

/// EWS elements live in the messages or types namespace; real servers do not
/// always use the one the schema names (m:Notification), so readers accept
/// either where the two have been seen swapped.
inline bool is_ews(xml_ns ns) noexcept { return ns == xml_ns::messages || ns == xml_ns::types; }

/// Parses `text` into `doc` and returns the Body's operation element, which
/// must be `operation` ("GetItemResponse") in the messages namespace; any
/// operation if `operation` is empty. A Fault becomes its error.
result<element> open_response(std::string_view text, parsed_document& doc, std::string_view operation);
/// The same, parsing `text` in place (see parse_envelope_in_place).
result<element> open_response_in_place(std::string& text, parsed_document& doc, std::string_view operation);

/// The ResponseMessages element of an operation element, or an error.
result<element> response_messages(const element& operation);

/// Reads ResponseClass; fails (unexpected_response) if missing or unknown.
std::optional<error_info> read_response_class(const element& message, message_status& status);

/// Consumes `child` if it is one of the common ResponseMessage fields
/// (MessageText, ResponseCode, DescriptiveLinkKey, MessageXml).
bool read_status_child(const element& child, message_status& status);

/// A whole ResponseMessage's status (class and common fields), ignoring the rest.
std::optional<error_info> read_status(const element& message, message_status& status);

/// The error a soap:Fault element describes.
error_info fault_error(const element& fault);

/// The common Item fields of any item element (Message, CalendarItem, ...).
void read_item(const element& item_element, item& out);

/// The value of an Id attribute pair (ItemId, FolderId, ...).
inline item_id read_item_id(const element& e) {
  return {std::string(e.attribute("Id")), std::string(e.attribute("ChangeKey"))};
}

inline std::string to_owned(std::string_view s) { return std::string(s); }

}  // namespace ews::soap::detail
