#include <ews/soap/requests.hpp>

#include "schema_names.hpp"
#include "xml_writer.hpp"

#include <optional>
#include <string_view>
#include <utility>

namespace ews::soap {
namespace {

using detail::xml_writer;
using failure = std::optional<error_info>;

constexpr std::string_view soap_ns = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view types_ns = "http://schemas.microsoft.com/exchange/services/2006/types";
constexpr std::string_view messages_ns =
    "http://schemas.microsoft.com/exchange/services/2006/messages";

// Fixed overhead of an envelope with header and shape, and of one id element.
constexpr std::size_t envelope_bytes = 768;
constexpr std::size_t per_id_bytes = 48;

constexpr std::size_t max_subscription_ids = 200;
constexpr int min_connection_timeout = 1, max_connection_timeout = 30;
constexpr int min_sync_changes = 1, max_sync_changes = 512;

error_info invalid(std::string_view op, std::string_view what, std::string_view why) {
  std::string msg;
  msg.reserve(op.size() + what.size() + why.size() + 4);
  msg.append(op).append(": ").append(what).append(" ").append(why);
  return make_error(errc::invalid_argument, std::move(msg));
}

std::string indexed(std::string_view name, std::size_t i) {
  std::string s(name);
  s.append("[").append(std::to_string(i)).append("]");
  return s;
}

// Names an argument ("folders[2]" or "folder") only when an error needs it,
// so the success path formats nothing.
struct arg_name {
  std::string_view name;
  std::size_t index = npos;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  std::string str() const { return index == npos ? std::string(name) : indexed(name, index); }
};

std::string member(std::string_view name, std::string_view field) {
  std::string s(name);
  s.append(".").append(field);
  return s;
}

// The writer refused `what`: say which argument and why.
error_info bad_text(std::string_view op, const xml_writer& w, std::string_view what) {
  return invalid(op, what, w.last_error().describe());
}

// --- argument checks (before anything is written) --------------------------

failure check_envelope(std::string_view op, const envelope_options& env) {
  if (!detail::exchange_versions().contains(env.server_version)) {
    return invalid(op, "env.server_version",
                   "is not an ExchangeVersionType value (e.g. \"Exchange2013_SP1\")");
  }
  if (env.impersonate) {
    switch (env.impersonate->by) {
      case impersonation::kind::smtp_address:
      case impersonation::kind::principal_name:
      case impersonation::kind::sid:
        break;
      default:
        return invalid(op, "env.impersonate.by", "is not a known impersonation kind");
    }
    if (env.impersonate->value.empty()) return invalid(op, "env.impersonate.value", "is empty");
  }
  return std::nullopt;
}

failure check_folder(std::string_view op, const folder_ref& f, arg_name name) {
  if (f.id.empty()) return invalid(op, member(name.str(), "id"), "is empty");
  if (f.distinguished) {
    if (!is_distinguished_folder_name(f.id)) {
      return invalid(op, member(name.str(), "id"),
                     "is not a DistinguishedFolderIdNameType value (lower case, e.g. \"inbox\")");
    }
  } else if (!f.mailbox.empty()) {
    return invalid(op, member(name.str(), "mailbox"),
                   "is set on a folder id (only distinguished folders take a mailbox)");
  }
  return std::nullopt;
}

failure check_shape(std::string_view op, const item_shape& s, std::string_view name) {
  switch (s.base_shape) {
    case item_shape::base::id_only:
    case item_shape::base::default_shape:
    case item_shape::base::all_properties:
      break;
    default:
      return invalid(op, member(name, "base_shape"), "is not a known base shape");
  }
  switch (s.body) {
    case body_type::best:
    case body_type::html:
    case body_type::text:
      break;
    default:
      return invalid(op, member(name, "body"), "is not a known body type");
  }
  const auto uris = detail::unindexed_field_uris();
  for (std::size_t i = 0; i < s.additional_properties.size(); ++i) {
    if (!uris.contains(s.additional_properties[i])) {
      return invalid(op, indexed(member(name, "additional_properties"), i),
                     "is not an UnindexedFieldURIType value (e.g. \"item:Subject\")");
    }
  }
  return std::nullopt;
}

// --- writers (arguments already checked; only text can still be refused) --

const char* connecting_sid_element(impersonation::kind k) noexcept {
  switch (k) {
    case impersonation::kind::principal_name: return "t:PrincipalName";
    case impersonation::kind::sid: return "t:SID";
    case impersonation::kind::smtp_address: break;
  }
  return "t:SmtpAddress";
}

const char* base_shape_name(item_shape::base b) noexcept {
  switch (b) {
    case item_shape::base::default_shape: return "Default";
    case item_shape::base::all_properties: return "AllProperties";
    case item_shape::base::id_only: break;
  }
  return "IdOnly";
}

const char* body_type_name(body_type b) noexcept {
  switch (b) {
    case body_type::best: return "Best";
    case body_type::html: return "HTML";
    case body_type::text: break;
  }
  return "Text";
}

failure write_folder(std::string_view op, xml_writer& w, const folder_ref& f, arg_name name) {
  w.start(f.distinguished ? "t:DistinguishedFolderId" : "t:FolderId");
  if (!w.attribute("Id", f.id)) return bad_text(op, w, member(name.str(), "id"));
  if (!f.change_key.empty() && !w.attribute("ChangeKey", f.change_key)) {
    return bad_text(op, w, member(name.str(), "change_key"));
  }
  if (f.distinguished && !f.mailbox.empty()) {
    w.start("t:Mailbox");
    if (!w.element("t:EmailAddress", f.mailbox)) {
      return bad_text(op, w, member(name.str(), "mailbox"));
    }
    w.end();
  }
  w.end();
  return std::nullopt;
}

void write_shape(xml_writer& w, const item_shape& s) {
  w.start("m:ItemShape");
  (void)w.element("t:BaseShape", base_shape_name(s.base_shape));
  if (s.include_mime_content) (void)w.element("t:IncludeMimeContent", "true");
  if (s.include_body) (void)w.element("t:BodyType", body_type_name(s.body));

  // IdOnly returns no body unless asked for by name.
  bool add_body = s.include_body && s.base_shape == item_shape::base::id_only;
  for (const auto& p : s.additional_properties) {
    if (p == "item:Body") add_body = false;
  }
  if (add_body || !s.additional_properties.empty()) {
    w.start("t:AdditionalProperties");
    for (const auto& p : s.additional_properties) {
      w.start("t:FieldURI");
      (void)w.attribute("FieldURI", p);  // checked against the schema list
      w.end();
    }
    if (add_body) {
      w.start("t:FieldURI");
      (void)w.attribute("FieldURI", "item:Body");
      w.end();
    }
    w.end();
  }
  w.end();
}

std::size_t shape_bytes(const item_shape& s) {
  return 64 * (s.additional_properties.size() + 1);
}

// Checks the envelope options, writes the envelope around what `body`
// writes into soap:Body, and returns the document or the first failure.
template <class Body>
result<std::string> build_envelope(std::string_view op, const envelope_options& env,
                                   std::size_t size_hint, Body&& body) {
  if (auto f = check_envelope(op, env)) return std::move(*f);

  xml_writer w(size_hint + envelope_bytes + env.server_version.size() +
               (env.impersonate ? env.impersonate->value.size() + 128 : 0));
  w.declaration();
  w.start("soap:Envelope");
  (void)w.attribute("xmlns:soap", soap_ns);
  (void)w.attribute("xmlns:t", types_ns);
  (void)w.attribute("xmlns:m", messages_ns);

  w.start("soap:Header");
  w.start("t:RequestServerVersion");
  (void)w.attribute("Version", env.server_version);  // checked against the schema list
  w.end();
  if (env.impersonate) {
    w.start("t:ExchangeImpersonation");
    w.start("t:ConnectingSID");
    if (!w.element(connecting_sid_element(env.impersonate->by), env.impersonate->value)) {
      return bad_text(op, w, "env.impersonate.value");
    }
    w.end();
    w.end();
  }
  w.end();

  w.start("soap:Body");
  if (failure f = body(w)) return std::move(*f);
  w.end();
  w.end();
  return std::move(w).finish();
}

}  // namespace

result<std::string> build_subscribe(const envelope_options& env, const subscribe_request& req) {
  constexpr std::string_view op = "build_subscribe";
  if (req.events.empty()) return invalid(op, "events", "is empty");
  for (std::size_t i = 0; i < req.events.size(); ++i) {
    switch (req.events[i]) {
      case event_type::new_mail:
      case event_type::created:
      case event_type::modified:
      case event_type::deleted:
      case event_type::moved:
      case event_type::copied:
      case event_type::free_busy_changed:
        break;
      case event_type::status:  // only ever sent by the server
        return invalid(op, indexed("events", i), "is Status, which a subscription cannot ask for");
      default:
        return invalid(op, indexed("events", i), "is not a known event type");
    }
  }
  if (req.folders.empty() && !req.all_folders) {
    return invalid(op, "folders", "is empty and all_folders is false");
  }
  std::size_t hint = 64 * req.events.size();
  for (std::size_t i = 0; i < req.folders.size(); ++i) {
    if (auto f = check_folder(op, req.folders[i], {"folders", i})) return std::move(*f);
    const auto& fr = req.folders[i];
    hint += per_id_bytes * 2 + fr.id.size() + fr.change_key.size() + fr.mailbox.size();
  }

  return build_envelope(op, env, hint, [&](xml_writer& w) -> failure {
    w.start("m:Subscribe");
    w.start("m:StreamingSubscriptionRequest");
    if (req.all_folders) (void)w.attribute("SubscribeToAllFolders", "true");
    if (!req.folders.empty()) {
      w.start("t:FolderIds");
      for (std::size_t i = 0; i < req.folders.size(); ++i) {
        if (auto f = write_folder(op, w, req.folders[i], {"folders", i})) return f;
      }
      w.end();
    }
    w.start("t:EventTypes");
    for (const event_type e : req.events) {
      w.start("t:EventType");
      (void)w.text(to_string(e));
      (void)w.text("Event");
      w.end();
    }
    w.end();
    w.end();
    w.end();
    return std::nullopt;
  });
}

result<std::string> build_get_streaming_events(const envelope_options& env,
                                               const get_streaming_events_request& req) {
  constexpr std::string_view op = "build_get_streaming_events";
  const auto& ids = req.subscription_ids;
  if (ids.empty() || ids.size() > max_subscription_ids) {
    return invalid(op, "subscription_ids",
                   "has " + std::to_string(ids.size()) + " entries; 1 to 200 are allowed");
  }
  std::size_t hint = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) return invalid(op, indexed("subscription_ids", i), "is empty");
    hint += per_id_bytes + ids[i].size();
  }
  if (req.connection_timeout_minutes < min_connection_timeout ||
      req.connection_timeout_minutes > max_connection_timeout) {
    return invalid(op, "connection_timeout_minutes",
                   "is " + std::to_string(req.connection_timeout_minutes) +
                       "; 1 to 30 minutes are allowed");
  }

  return build_envelope(op, env, hint, [&](xml_writer& w) -> failure {
    w.start("m:GetStreamingEvents");
    w.start("m:SubscriptionIds");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!w.element("t:SubscriptionId", ids[i])) {
        return bad_text(op, w, indexed("subscription_ids", i));
      }
    }
    w.end();
    w.element("m:ConnectionTimeout", req.connection_timeout_minutes);
    w.end();
    return std::nullopt;
  });
}

result<std::string> build_unsubscribe(const envelope_options& env,
                                      const std::string& subscription_id) {
  constexpr std::string_view op = "build_unsubscribe";
  if (subscription_id.empty()) return invalid(op, "subscription_id", "is empty");
  return build_envelope(op, env, subscription_id.size(), [&](xml_writer& w) -> failure {
    w.start("m:Unsubscribe");
    if (!w.element("m:SubscriptionId", subscription_id)) {
      return bad_text(op, w, "subscription_id");
    }
    w.end();
    return std::nullopt;
  });
}

result<std::string> build_get_item(const envelope_options& env, const get_item_request& req) {
  constexpr std::string_view op = "build_get_item";
  if (req.items.empty()) return invalid(op, "items", "is empty");
  std::size_t hint = shape_bytes(req.shape);
  for (std::size_t i = 0; i < req.items.size(); ++i) {
    const item_id& id = req.items[i];
    if (id.id.empty()) return invalid(op, member(indexed("items", i), "id"), "is empty");
    hint += per_id_bytes + id.id.size() + id.change_key.size();
  }
  if (auto f = check_shape(op, req.shape, "shape")) return std::move(*f);

  return build_envelope(op, env, hint, [&](xml_writer& w) -> failure {
    w.start("m:GetItem");
    write_shape(w, req.shape);
    w.start("m:ItemIds");
    for (std::size_t i = 0; i < req.items.size(); ++i) {
      const item_id& id = req.items[i];
      w.start("t:ItemId");
      if (!w.attribute("Id", id.id)) return bad_text(op, w, member(indexed("items", i), "id"));
      // An empty ChangeKey is not "no ChangeKey": the attribute is left out.
      if (!id.change_key.empty() && !w.attribute("ChangeKey", id.change_key)) {
        return bad_text(op, w, member(indexed("items", i), "change_key"));
      }
      w.end();
    }
    w.end();
    w.end();
    return std::nullopt;
  });
}

result<std::string> build_sync_folder_items(const envelope_options& env,
                                            const sync_folder_items_request& req) {
  constexpr std::string_view op = "build_sync_folder_items";
  if (auto f = check_folder(op, req.folder, {"folder"})) return std::move(*f);
  if (req.max_changes_returned < min_sync_changes || req.max_changes_returned > max_sync_changes) {
    return invalid(op, "max_changes_returned",
                   "is " + std::to_string(req.max_changes_returned) + "; 1 to 512 are allowed");
  }
  if (auto f = check_shape(op, req.shape, "shape")) return std::move(*f);
  const std::size_t hint = shape_bytes(req.shape) + per_id_bytes + req.folder.id.size() +
                           req.folder.mailbox.size() + req.folder.change_key.size() +
                           req.sync_state.size();

  return build_envelope(op, env, hint, [&](xml_writer& w) -> failure {
    w.start("m:SyncFolderItems");
    write_shape(w, req.shape);
    w.start("m:SyncFolderId");
    if (auto f = write_folder(op, w, req.folder, {"folder"})) return f;
    w.end();
    if (!req.sync_state.empty() && !w.element("m:SyncState", req.sync_state)) {
      return bad_text(op, w, "sync_state");
    }
    w.element("m:MaxChangesReturned", req.max_changes_returned);
    w.end();
    return std::nullopt;
  });
}

}  // namespace ews::soap
