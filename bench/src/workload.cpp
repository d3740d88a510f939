#include "workload.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ews::bench {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// Splits `text` around the first `marker`: [before, after) with the marker
// itself in neither part.
std::pair<std::string, std::string> cut(const std::string& text, std::string_view marker, const std::string& what) {
  const auto at = text.find(marker);
  if (at == std::string::npos) throw std::runtime_error(what + ": '" + std::string(marker) + "' not found");
  return {text.substr(0, at), text.substr(at + marker.size())};
}

std::string replace_once(std::string text, std::string_view from, std::string_view to, const std::string& what) {
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error(what + ": '" + std::string(from) + "' not found");
  text.replace(at, from.size(), to);
  return text;
}

// The recorded Exchange Online ids, with 12 digits of sequence number where
// the real id has its per-item part.
constexpr std::string_view id_prefix =
    "AAMkAGM0N2Q1NmIyLWZkOTYtNDUzMi04MzM4LTczZDljOGM4OWNiZgBGAAAAAAA5BTDj02oBRKpdOCyb7R//BwCzH/qwpZTUR64kCgQ9"
    "LRICAASpIQ4dAACzH/qwpZTUR64kCgQ9LRICAA";
constexpr std::string_view id_suffix = "AAA=";
constexpr std::size_t seq_digits = 12;
constexpr std::string_view parent_folder_id =
    "AAMkAGM0N2Q1NmIyLWZkOTYtNDUzMi04MzM4LTczZDljOGM4OWNiZgAuAAAAAAA5BTDj02oBRKpdOCyb7R//AQCzH/qwpZTUR64kCgQ9"
    "LRICAASpIQ4dAAA=";

// Placeholders in the message template.
constexpr std::string_view ph_id = "@ID@";
constexpr std::string_view ph_ck = "@CK@";
constexpr std::string_view ph_body = "@BODY@";
constexpr std::string_view ph_subject = "@SUBJECT@";

std::string html_body(std::size_t bytes) {
  // Escaped HTML as Exchange writes it, filled with prose up to the size.
  std::string s = "&lt;html&gt;&lt;head&gt;&#xD;\n&lt;meta http-equiv=\"Content-Type\" content=\"text/html; "
                  "charset=utf-8\"&gt;&lt;/head&gt;&lt;body&gt;&lt;p&gt;";
  constexpr std::string_view prose =
      "Dear team, please find the quarterly figures below; the numbers for the northern region are final. ";
  const std::string_view end = "&lt;/p&gt;&lt;/body&gt;&lt;/html&gt;";
  while (s.size() + end.size() < bytes) s.append(prose.substr(0, std::min(prose.size(), bytes - s.size() - end.size())));
  s += end;
  return s;
}

}  // namespace

workload::workload(const std::string& source_dir) {
  const std::string stream_file = source_dir + "/tests/fixtures/scenarios/exchange2016-stream/stream.chunk-01.xml";
  const std::string item_file =
      source_dir + "/tests/fixtures/wire/garethp-php-ews/extracted/MailAPITest.testGetSingleMailItem.10-response-200.xml";

  // Exchange 2016's streaming form: unprefixed Envelope, soap11 prefixes on
  // Header and Body, m:Notification. Keep everything but the notifications.
  const std::string stream = slurp(stream_file);
  auto [head, rest] = cut(stream, "<m:Notifications>", stream_file);
  auto [notes, tail] = cut(rest, "</m:Notifications>", stream_file);
  (void)notes;
  stream_head_ = std::move(head);
  stream_tail_ = std::move(tail);

  // Exchange Online's GetItem answer for one Message; its ids, subject and
  // body become placeholders, and the From/Sender/ToRecipients a default
  // shape asks for are added in schema order.
  const std::string item = slurp(item_file);
  auto [ihead, irest] = cut(item, "<m:ResponseMessages>", item_file);
  auto [message, itail] = cut(irest, "</m:ResponseMessages>", item_file);
  item_head_ = ihead + "<m:ResponseMessages>";
  item_tail_ = "</m:ResponseMessages>" + itail;
  const auto id_at = message.find("<t:ItemId ");
  const auto id_end = id_at == std::string::npos ? id_at : message.find("/>", id_at);
  if (id_end == std::string::npos) throw std::runtime_error(item_file + ": no ItemId");
  message.replace(id_at, id_end - id_at, "<t:ItemId Id=\"@ID@\" ChangeKey=\"@CK@\"");
  message = replace_once(message, "<t:Subject>Test Message</t:Subject>", "<t:Subject>@SUBJECT@</t:Subject>", item_file);
  const auto body_open = message.find("<t:Body BodyType=\"HTML\">");
  const auto body_close = message.find("</t:Body>");
  if (body_open == std::string::npos || body_close == std::string::npos)
    throw std::runtime_error(item_file + ": no HTML Body");
  const auto text_at = body_open + std::string_view("<t:Body BodyType=\"HTML\">").size();
  message.replace(text_at, body_close - text_at, ph_body);
  const std::string mailbox = "<t:Mailbox><t:Name>Gareth Parker</t:Name><t:EmailAddress>gareth@example.com"
                              "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox"
                              "</t:MailboxType></t:Mailbox>";
  message = replace_once(message, "<t:IsReadReceiptRequested>",
                         "<t:Sender>" + mailbox + "</t:Sender><t:ToRecipients>" + mailbox +
                             "</t:ToRecipients><t:IsReadReceiptRequested>",
                         item_file);
  message = replace_once(message, "<t:InternetMessageId>", "<t:From>" + mailbox + "</t:From><t:InternetMessageId>",
                         item_file);
  message_ = std::move(message);
}

std::string workload::item_id(std::uint64_t seq) {
  char digits[seq_digits + 1];
  std::snprintf(digits, sizeof digits, "%012llu", static_cast<unsigned long long>(seq % 1000000000000ULL));
  std::string s;
  s.reserve(id_prefix.size() + seq_digits + id_suffix.size());
  s.append(id_prefix).append(digits, seq_digits).append(id_suffix);
  return s;
}

std::string workload::change_key(std::uint64_t seq) { return "CQAAABYAAACzH/qwpZTUR64kCgQ9LRICAA" + std::to_string(seq); }

std::string workload::subscription_id(std::uint64_t n) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%012llu", static_cast<unsigned long long>(n % 1000000000000ULL));
  return "FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAACRSuDZ7LUVRZRdTUGgj8dRTln61/P61ggQAAAAXGkYiHJp" + std::string(digits) +
         "==";
}

std::optional<std::uint64_t> workload::seq_of(std::string_view id) {
  if (id.size() != id_prefix.size() + seq_digits + id_suffix.size()) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < seq_digits; ++i) {
    const char c = id[id_prefix.size() + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string workload::new_mail_event(std::uint64_t seq) const {
  std::string s;
  s.reserve(400);
  s += "<t:NewMailEvent><t:TimeStamp>2026-11-22T10:00:00Z</t:TimeStamp><t:ItemId Id=\"";
  s += item_id(seq);
  s += "\" ChangeKey=\"";
  s += change_key(seq);
  s += "\"/><t:ParentFolderId Id=\"";
  s += parent_folder_id;
  s += "\" ChangeKey=\"AQAAAA==\"/></t:NewMailEvent>";
  return s;
}

std::string workload::events_envelope(const std::vector<std::pair<std::string, std::string>>& notifications) const {
  std::string s = stream_head_;
  s += "<m:Notifications>";
  for (const auto& [subscription, events] : notifications) {
    s += "<m:Notification><t:SubscriptionId>";
    s += subscription;
    s += "</t:SubscriptionId>";
    s += events;
    s += "</m:Notification>";
  }
  s += "</m:Notifications>";
  s += stream_tail_;
  return s;
}

std::string workload::keep_alive_envelope() const {
  return stream_head_ + "<m:ConnectionStatus>OK</m:ConnectionStatus>" + stream_tail_;
}

std::string workload::get_item_response(const std::vector<std::uint64_t>& seqs, std::size_t body_bytes,
                                        const std::vector<std::string>& subjects) const {
  const std::string body = body_bytes == 0 ? std::string() : html_body(body_bytes);
  std::string s;
  s.reserve(item_head_.size() + item_tail_.size() + seqs.size() * (message_.size() + body.size() + 64));
  s += item_head_;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    // Placeholders appear once each, in this order in the template.
    std::string_view rest = message_;
    auto emit_until = [&](std::string_view ph) {
      const auto at = rest.find(ph);
      s.append(rest.substr(0, at));
      rest.remove_prefix(at + ph.size());
    };
    emit_until(ph_id);
    s += item_id(seqs[i]);
    emit_until(ph_ck);
    s += change_key(seqs[i]);
    emit_until(ph_subject);
    s += i < subjects.size() && !subjects[i].empty() ? subjects[i] : std::string("Test Message");
    emit_until(ph_body);
    if (body_bytes == 0)
      s += "&lt;html&gt;&lt;body&gt;Test Draft Body &lt;/body&gt;&lt;/html&gt;";
    else
      s += body;
    s.append(rest);
  }
  s += item_tail_;
  return s;
}

std::string workload::subscribe_response(const std::string& subscription_id) const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP:Envelope xmlns:SOAP=\"http://schemas.xmlsoap.org/soap/"
         "envelope/\"><SOAP:Header><t:ServerVersionInfo xmlns:t=\"http://schemas.microsoft.com/exchange/services/"
         "2006/types\" MajorVersion=\"15\" MinorVersion=\"1\" MajorBuildNumber=\"1591\" MinorBuildNumber=\"10\" "
         "Version=\"V2017_07_11\"/></SOAP:Header><SOAP:Body><m:SubscribeResponse xmlns:m=\"http://schemas.microsoft."
         "com/exchange/services/2006/messages\" xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\">"
         "<m:ResponseMessages><m:SubscribeResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError"
         "</m:ResponseCode><m:SubscriptionId>" +
         subscription_id +
         "</m:SubscriptionId></m:SubscribeResponseMessage></m:ResponseMessages></m:SubscribeResponse></SOAP:Body>"
         "</SOAP:Envelope>";
}

std::string workload::unsubscribe_response() const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP:Envelope xmlns:SOAP=\"http://schemas.xmlsoap.org/soap/"
         "envelope/\"><SOAP:Body><m:UnsubscribeResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/"
         "messages\"><m:ResponseMessages><m:UnsubscribeResponseMessage ResponseClass=\"Success\"><m:ResponseCode>"
         "NoError</m:ResponseCode></m:UnsubscribeResponseMessage></m:ResponseMessages></m:UnsubscribeResponse>"
         "</SOAP:Body></SOAP:Envelope>";
}

namespace {

// Calls on_tag(local name, text between < and >, offset after >) for every
// start or empty-element tag, until it returns false.
template <class OnTag>
void for_each_tag(std::string_view xml, OnTag&& on_tag) {
  std::size_t pos = 0;
  for (;;) {
    const auto lt = xml.find('<', pos);
    if (lt == std::string_view::npos) return;
    const auto gt = xml.find('>', lt);
    if (gt == std::string_view::npos) return;
    pos = gt + 1;
    const std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    if (tag.empty() || tag[0] == '/') continue;
    std::string_view name = tag.substr(0, tag.find_first_of(" \t\r\n/"));
    if (const auto colon = name.find(':'); colon != std::string_view::npos) name.remove_prefix(colon + 1);
    if (!on_tag(name, tag, pos)) return;
  }
}

}  // namespace

std::vector<std::string> attribute_values(std::string_view xml, std::string_view element, std::string_view attribute) {
  // ` Id="..."` (attributes are quoted with " by our writer).
  std::string needle = " ";
  needle.append(attribute).append("=\"");
  std::vector<std::string> out;
  for_each_tag(xml, [&](std::string_view name, std::string_view tag, std::size_t) {
    if (name != element) return true;
    const auto a = tag.find(needle);
    if (a == std::string_view::npos) return true;
    const auto v = a + needle.size();
    const auto q = tag.find('"', v);
    if (q != std::string_view::npos) out.emplace_back(tag.substr(v, q - v));
    return true;
  });
  return out;
}

std::vector<std::string> element_texts(std::string_view xml, std::string_view element) {
  std::vector<std::string> out;
  for_each_tag(xml, [&](std::string_view name, std::string_view tag, std::size_t after) {
    if (name != element || tag.back() == '/') return true;
    const auto end = xml.find('<', after);
    if (end == std::string_view::npos) return false;
    out.emplace_back(xml.substr(after, end - after));
    return true;
  });
  return out;
}

}  // namespace ews::bench
