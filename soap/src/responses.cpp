// The envelope walk, message status and faults shared by all readers, plus the
// small Subscribe/Unsubscribe readers. The bigger readers live in
// read_streaming.cpp and read_item.cpp.

#include "response_reader.hpp"

#include <utility>

namespace ews::soap {
namespace detail {
namespace {

std::string describe(const element& e) {
  std::string s = "<";
  s += e.node().name();
  s += '>';
  return s;
}

// Codes for which the same request may succeed later, unchanged. Chosen from
// the EWS docs' descriptions: the server or a dependency is busy, failing
// over, or timed out. ErrorInternalServerError is deliberately not here: it
// usually repeats for the same input.
bool is_transient_code(response_code code) noexcept {
  switch (code) {
    case response_code::ErrorServerBusy:                      // throttling; honour BackOffMilliseconds
    case response_code::ErrorInternalServerTransientError:    // named so by Exchange
    case response_code::ErrorTimeoutExpired:                  // the server gave up waiting
    case response_code::ErrorMailboxStoreUnavailable:         // store restarting or failing over
    case response_code::ErrorMailboxMoveInProgress:           // move finishes, then it works
    case response_code::ErrorMailboxFailover:                 // database failover in progress
    case response_code::ErrorConnectionFailed:                // back end unreachable for now
    case response_code::ErrorTooManyObjectsOpened:            // per-session limit; frees up
    case response_code::ErrorADUnavailable:                   // directory unreachable for now
    case response_code::ErrorServiceUnavailable:              // service unavailable for now
    case response_code::ErrorExceededConnectionCount:         // others' connections close
    case response_code::ErrorProxyRequestProcessingFailed:    // cross-server proxy hiccup
    case response_code::ErrorMessageTrackingTransientError:   // named so by Exchange
      return true;
    default:
      return false;
  }
}

// MessageXml: <t:Value Name="BackOffMilliseconds">N</t:Value> pairs; other
// children (the schema-validation fault's LineNumber, Violation) are kept
// under their local name.
void read_message_xml(const element& xml, message_status& status) {
  for (const element& v : children(xml)) {
    std::string name;
    if (v.local() == "Value") name = to_owned(v.attribute("Name"));
    if (name.empty()) name = to_owned(v.local());
    std::string value = to_owned(v.text());
    if (name == "BackOffMilliseconds") {
      if (auto ms = parse_int(value); ms && *ms >= 0) status.back_off = std::chrono::milliseconds(*ms);
    }
    status.message_xml.insert_or_assign(std::move(name), std::move(value));
  }
}

void set_code(message_status& status, std::string_view text) {
  status.code_text = to_owned(text);
  status.code = parse_response_code(text);
}

// The Body's operation element of a parsed envelope (see open_response).
result<element> operation_element(const parsed_document& doc, std::string_view operation) {
  const element root(doc.doc.document_element());
  if (!root.is(xml_ns::soap, "Envelope"))
    return make_error(errc::unexpected_response, "expected a SOAP Envelope, got " + describe(root));
  const element body = root.child(xml_ns::soap, "Body");
  if (!body) return make_error(errc::unexpected_response, "SOAP Envelope without a Body");
  const element first = body.first_child();
  if (!first) return make_error(errc::unexpected_response, "empty SOAP Body");
  if (first.is(xml_ns::soap, "Fault")) return fault_error(first);
  if (!operation.empty() && !first.is(xml_ns::messages, operation)) {
    return make_error(errc::unexpected_response,
                      "expected " + std::string(operation) + " in the SOAP Body, got " + describe(first));
  }
  return first;
}

}  // namespace

result<element> open_response(std::string_view text, parsed_document& doc, std::string_view operation) {
  if (auto err = parse_envelope(text, doc)) return std::move(*err);
  return operation_element(doc, operation);
}

result<element> open_response_in_place(std::string& text, parsed_document& doc, std::string_view operation) {
  if (auto err = parse_envelope_in_place(text, doc)) return std::move(*err);
  return operation_element(doc, operation);
}

result<element> response_messages(const element& operation) {
  const element messages = operation.child(xml_ns::messages, "ResponseMessages");
  if (!messages) {
    return make_error(errc::unexpected_response, describe(operation) + " without ResponseMessages");
  }
  return messages;
}

std::optional<error_info> read_response_class(const element& message, message_status& status) {
  const std::string_view cls = message.attribute("ResponseClass");
  if (cls == "Success") status.cls = response_class::success;
  else if (cls == "Warning") status.cls = response_class::warning;
  else if (cls == "Error") status.cls = response_class::error;
  else {
    return make_error(errc::unexpected_response,
                      describe(message) + " with ResponseClass \"" + std::string(cls.substr(0, 64)) + "\"");
  }
  return std::nullopt;
}

bool read_status_child(const element& c, message_status& status) {
  const std::string_view n = c.local();
  if (n == "ResponseCode") set_code(status, c.trimmed_text());
  else if (n == "MessageText") status.message_text = to_owned(c.text());
  else if (n == "MessageXml") read_message_xml(c, status);
  else if (n != "DescriptiveLinkKey") return false;
  return true;
}

std::optional<error_info> read_status(const element& message, message_status& status) {
  if (auto err = read_response_class(message, status)) return err;
  for (const element& c : children(message)) read_status_child(c, status);
  return std::nullopt;
}

error_info fault_error(const element& fault) {
  // faultcode/faultstring/detail are unqualified in SOAP 1.1, but servers
  // differ; match the local name in any namespace.
  std::string fault_code;
  std::string fault_string;
  message_status detail;
  for (const element& c : children(fault)) {
    const std::string_view n = c.local();
    if (n == "faultcode") fault_code = to_owned(c.trimmed_text());
    else if (n == "faultstring") fault_string = to_owned(c.text());
    else if (n == "detail") {
      // e:ResponseCode, e:Message, t:MessageXml, in whatever namespace.
      for (const element& d : children(c)) {
        if (d.local() == "Message" && detail.message_text.empty()) detail.message_text = to_owned(d.text());
        else read_status_child(d, detail);
      }
    }
  }
  // Without a detail ResponseCode, the fault code itself may name one
  // ("a:ErrorServerBusy" with a bound to the types namespace).
  if (detail.code_text.empty()) {
    const std::string_view local = local_name(fault_code.c_str());
    if (parse_response_code(local)) set_code(detail, local);
  }

  error_info e;
  const bool busy = detail.code == response_code::ErrorServerBusy;
  e.code = make_error_code(busy ? errc::throttled : errc::soap_fault);
  e.message = "SOAP fault " + (fault_code.empty() ? std::string("(no faultcode)") : fault_code);
  if (!fault_string.empty()) e.message += ": " + fault_string;
  if (!detail.code_text.empty()) {
    e.ews_code = detail.code ? *detail.code : response_code::unknown;
    e.response_code_text = detail.code_text;
  }
  e.soap_fault_code = std::move(fault_code);
  e.back_off = detail.back_off;
  e.transient = (detail.code && is_transient_code(*detail.code)) || detail.back_off.has_value();
  return e;
}

}  // namespace detail

using namespace detail;

// ---- message_status ----------------------------------------------------------

error_info message_status::to_error() const {
  error_info e;
  const bool busy = code == response_code::ErrorServerBusy;
  e.code = make_error_code(busy ? errc::throttled : errc::ews_error);
  if (!code_text.empty()) {
    e.ews_code = code ? *code : response_code::unknown;
    e.response_code_text = code_text;
  }
  e.message = code_text.empty() ? std::string("EWS error without a ResponseCode") : code_text;
  if (!message_text.empty()) e.message += ": " + message_text;
  e.back_off = back_off;
  e.transient = (code && is_transient_code(*code)) || back_off.has_value();
  return e;
}

// ---- Subscribe / Unsubscribe --------------------------------------------------

result<subscribe_response> read_subscribe_response(std::string_view envelope) {
  parsed_document doc;
  auto op = open_response(envelope, doc, "SubscribeResponse");
  if (!op) return std::move(op).error();
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  const element message = messages->first_child();
  if (!message) return make_error(errc::unexpected_response, "SubscribeResponse without a message");
  subscribe_response out;
  if (auto err = read_response_class(message, out.status)) return std::move(*err);
  for (const element& c : children(message)) {
    if (read_status_child(c, out.status)) continue;
    if (c.local() == "SubscriptionId") out.subscription_id = to_owned(c.trimmed_text());
    else if (c.local() == "Watermark") out.watermark = to_owned(c.trimmed_text());
  }
  return out;
}

result<unsubscribe_response> read_unsubscribe_response(std::string_view envelope) {
  parsed_document doc;
  auto op = open_response(envelope, doc, "UnsubscribeResponse");
  if (!op) return std::move(op).error();
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  const element message = messages->first_child();
  if (!message) return make_error(errc::unexpected_response, "UnsubscribeResponse without a message");
  unsubscribe_response out;
  if (auto err = read_status(message, out.status)) return std::move(*err);
  return out;
}

// ---- Any operation --------------------------------------------------------------

result<generic_response> read_generic_response(std::string_view envelope) {
  parsed_document doc;
  auto op = open_response(envelope, doc, {});
  if (!op) return std::move(op).error();
  if (!is_ews(op->ns())) {
    return make_error(errc::unexpected_response, "the SOAP Body does not hold an EWS response");
  }
  auto messages = response_messages(*op);
  if (!messages) return std::move(messages).error();
  generic_response out;
  out.operation = to_owned(op->local());
  for (const element& m : children(*messages)) {
    message_status status;
    if (auto err = read_status(m, status)) return std::move(*err);
    out.messages.push_back(std::move(status));
  }
  return out;
}

std::optional<error_info> read_fault(std::string_view envelope) {
  parsed_document doc;
  if (parse_envelope(envelope, doc)) return std::nullopt;
  const element root(doc.doc.document_element());
  if (!root.is(xml_ns::soap, "Envelope")) return std::nullopt;
  const element body = root.child(xml_ns::soap, "Body");
  const element first = body ? body.first_child() : body;
  if (!first || !first.is(xml_ns::soap, "Fault")) return std::nullopt;
  return fault_error(first);
}

}  // namespace ews::soap
