#pragma once
/// @file
/// Plain value types of the EWS protocol shared by requests and responses.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ews::soap {

/// An item's identity. The ChangeKey names one version of the item; it may be
/// empty when a server sends none (gromox on NewMailEvent).
struct item_id {
  std::string id;
  std::string change_key;
  friend bool operator==(const item_id& a, const item_id& b) {
    return a.id == b.id && a.change_key == b.change_key;
  }
};

/// A folder: either distinguished ("inbox", optionally in another mailbox) or
/// by id.
struct folder_ref {
  std::string id;           ///< folder id, or the distinguished name
  bool distinguished = false;
  std::string mailbox;      ///< SMTP address; only for distinguished folders, may be empty
  std::string change_key;   ///< only for folder ids, may be empty

  static folder_ref distinguished_folder(std::string name, std::string mailbox = {}) {
    return {std::move(name), true, std::move(mailbox), {}};
  }
  static folder_ref by_id(std::string id, std::string change_key = {}) {
    return {std::move(id), false, {}, std::move(change_key)};
  }
};

/// Whether `name` is a DistinguishedFolderIdNameType value ("inbox", ...).
/// Exact (the schema's names are lower case); the Exchange Online list, a
/// superset of the on-premises one.
bool is_distinguished_folder_name(const std::string& name);

/// Notification event types: NotificationEventTypeType (what a subscription
/// may ask for, free/busy changes included) plus the status event that only
/// the server sends (keep-alive of a pull/push subscription).
enum class event_type {
  new_mail,
  created,
  modified,
  deleted,
  moved,
  copied,
  free_busy_changed,
  status,
};

/// "NewMail", "Created", ...: the EWS event name without "Event".
const char* to_string(event_type type) noexcept;
/// Parses "NewMail"/"NewMailEvent" (case-insensitive). nullopt if unknown.
std::optional<event_type> parse_event_type(const std::string& name);

/// How the SOAP header identifies the mailbox a request acts on behalf of.
struct impersonation {
  enum class kind { smtp_address, principal_name, sid };
  kind by = kind::smtp_address;
  std::string value;
};

/// Body format for GetItem.
enum class body_type { best, html, text };

/// What GetItem returns for each item.
struct item_shape {
  enum class base { id_only, default_shape, all_properties };
  base base_shape = base::id_only;
  /// FieldURI values ("item:Subject", "message:From", ...).
  std::vector<std::string> additional_properties;
  /// Ask for the body in `body` format (BodyType). With base id_only this
  /// also adds "item:Body" to the additional properties.
  bool include_body = false;
  body_type body = body_type::text;
  bool include_mime_content = false;
};

}  // namespace ews::soap
