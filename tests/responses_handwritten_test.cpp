// The response readers on hand-written envelopes: server quirks not in the
// recorded data, namespace edge cases, broken input, and the parse cost.

#include <ews/soap/responses.hpp>

#include "responses_test_print.hpp"

#include <boost/test/unit_test.hpp>


#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

using namespace ews;
using namespace ews::soap;

namespace {

constexpr const char* soap_ns = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr const char* m_ns = "http://schemas.microsoft.com/exchange/services/2006/messages";
constexpr const char* t_ns = "http://schemas.microsoft.com/exchange/services/2006/types";

// A normal (non-streaming) envelope around `body`, s:/m:/t: declared on the
// Envelope.
std::string envelope(const std::string& body) {
  return std::string("<s:Envelope xmlns:s=\"") + soap_ns + "\" xmlns:m=\"" + m_ns + "\" xmlns:t=\"" + t_ns +
         "\"><s:Body>" + body + "</s:Body></s:Envelope>";
}

std::string gse(const std::string& message_children, const char* cls = "Success") {
  return envelope(std::string("<m:GetStreamingEventsResponse><m:ResponseMessages>"
                              "<m:GetStreamingEventsResponseMessage ResponseClass=\"") +
                  cls + "\">" + message_children +
                  "</m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse>");
}

std::string get_item(const std::string& items) {
  return envelope(
      "<m:GetItemResponse><m:ResponseMessages><m:GetItemResponseMessage ResponseClass=\"Success\">"
      "<m:ResponseCode>NoError</m:ResponseCode><m:Items>" +
      items + "</m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>");
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(responses_handwritten)

BOOST_AUTO_TEST_CASE(t_notification_is_accepted_like_m_notification) {
  auto r = read_get_streaming_events_response(gse(
      "<m:ResponseCode>NoError</m:ResponseCode><m:Notifications><t:Notification>"
      "<t:SubscriptionId>sub-1</t:SubscriptionId><t:PreviousWatermark>wm0</t:PreviousWatermark>"
      "<t:MoreEvents>true</t:MoreEvents>"
      "<t:NewMailEvent><t:Watermark>wm1</t:Watermark><t:TimeStamp>2024-01-01T00:00:00Z</t:TimeStamp>"
      "<t:ItemId Id=\"i1\" ChangeKey=\"ck1\"/><t:ParentFolderId Id=\"inbox-id\" ChangeKey=\"x\"/></t:NewMailEvent>"
      "</t:Notification></m:Notifications><m:ConnectionStatus>OK</m:ConnectionStatus>"));
  BOOST_REQUIRE(r);
  const auto& n = r->messages.at(0).notifications;
  BOOST_REQUIRE_EQUAL(n.size(), 1u);
  BOOST_TEST(n[0].subscription_id == "sub-1");
  BOOST_TEST(n[0].previous_watermark == "wm0");
  BOOST_TEST(n[0].more_events);
  BOOST_REQUIRE_EQUAL(n[0].events.size(), 1u);
  BOOST_TEST((n[0].events[0].type == event_type::new_mail));
  BOOST_TEST(n[0].events[0].watermark == "wm1");
  BOOST_TEST((n[0].events[0].item == item_id{"i1", "ck1"}));
  BOOST_TEST(n[0].events[0].parent_folder_id == "inbox-id");
}

BOOST_AUTO_TEST_CASE(error_subscription_ids_in_any_namespace) {
  auto r = read_get_streaming_events_response(gse(
      "<m:MessageText>gone</m:MessageText><m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode>"
      "<m:ErrorSubscriptionIds><m:SubscriptionId>a</m:SubscriptionId><t:SubscriptionId>b</t:SubscriptionId>"
      "<SubscriptionId> c </SubscriptionId></m:ErrorSubscriptionIds>"
      "<m:ConnectionStatus>Closed</m:ConnectionStatus>",
      "Error"));
  BOOST_REQUIRE(r);
  const auto& m = r->messages.at(0);
  BOOST_TEST(m.error_subscription_ids == (std::vector<std::string>{"a", "b", "c"}));
  BOOST_TEST(m.status.code == response_code::ErrorSubscriptionNotFound);
  BOOST_TEST((m.connection == connection_status::closed));
}

BOOST_AUTO_TEST_CASE(unknown_event_elements_are_skipped) {
  auto r = read_get_streaming_events_response(gse(
      "<m:ResponseCode>NoError</m:ResponseCode><m:Notifications><m:Notification>"
      "<t:SubscriptionId>s</t:SubscriptionId>"
      "<t:TeleportedEvent><t:TimeStamp>x</t:TimeStamp><t:ItemId Id=\"z\"/></t:TeleportedEvent>"
      "<x:CreatedEvent xmlns:x=\"urn:not-ews\"><x:ItemId Id=\"z\"/></x:CreatedEvent>"
      "<t:DeletedEvent><t:TimeStamp>2024-01-01T00:00:01Z</t:TimeStamp><t:ItemId Id=\"d\" ChangeKey=\"k\"/>"
      "<t:ParentFolderId Id=\"p\"/></t:DeletedEvent>"
      "<t:StatusEvent><t:Watermark>w</t:Watermark></t:StatusEvent>"
      "</m:Notification></m:Notifications>"));
  BOOST_REQUIRE(r);
  const auto& events = r->messages.at(0).notifications.at(0).events;
  BOOST_REQUIRE_EQUAL(events.size(), 2u);
  BOOST_TEST((events[0].type == event_type::deleted));
  BOOST_TEST(events[0].item.id == "d");
  BOOST_TEST((events[1].type == event_type::status));
  BOOST_TEST(events[1].watermark == "w");
  BOOST_TEST(events[1].timestamp.empty());
}

BOOST_AUTO_TEST_CASE(moved_and_copied_with_old_ids) {
  auto r = read_get_streaming_events_response(gse(
      "<m:ResponseCode>NoError</m:ResponseCode><m:Notifications><m:Notification>"
      "<t:SubscriptionId>s</t:SubscriptionId>"
      "<t:MovedEvent><t:TimeStamp>T1</t:TimeStamp><t:ItemId Id=\"new\" ChangeKey=\"nk\"/>"
      "<t:ParentFolderId Id=\"deleted-items\"/><t:OldItemId Id=\"old\" ChangeKey=\"ok\"/>"
      "<t:OldParentFolderId Id=\"inbox\"/></t:MovedEvent>"
      "<t:CopiedEvent><t:TimeStamp>T2</t:TimeStamp><t:FolderId Id=\"f2\" ChangeKey=\"fk2\"/>"
      "<t:ParentFolderId Id=\"root\"/><t:OldFolderId Id=\"f1\" ChangeKey=\"fk1\"/>"
      "<t:OldParentFolderId Id=\"archive\"/></t:CopiedEvent>"
      "<t:ModifiedEvent><t:TimeStamp>T3</t:TimeStamp><t:FolderId Id=\"inbox\"/>"
      "<t:ParentFolderId Id=\"root\"/><t:UnreadCount>17</t:UnreadCount></t:ModifiedEvent>"
      "<t:FreeBusyChangedEvent><t:TimeStamp>T4</t:TimeStamp><t:ItemId Id=\"cal\"/>"
      "<t:ParentFolderId Id=\"calendar\"/></t:FreeBusyChangedEvent>"
      "<t:CreatedEvent><t:TimeStamp>T5</t:TimeStamp><t:FolderId Id=\"newfolder\"/>"
      "<t:ParentFolderId Id=\"inbox\"/></t:CreatedEvent>"
      "</m:Notification></m:Notifications>"));
  BOOST_REQUIRE(r);
  const auto& e = r->messages.at(0).notifications.at(0).events;
  BOOST_REQUIRE_EQUAL(e.size(), 5u);
  BOOST_TEST((e[0].type == event_type::moved));
  BOOST_TEST(!e[0].is_folder_event);
  BOOST_TEST((e[0].item == item_id{"new", "nk"}));
  BOOST_TEST((e[0].old_item == item_id{"old", "ok"}));
  BOOST_TEST(e[0].parent_folder_id == "deleted-items");
  BOOST_TEST(e[0].old_parent_folder_id == "inbox");
  BOOST_TEST((e[1].type == event_type::copied));
  BOOST_TEST(e[1].is_folder_event);
  BOOST_TEST((e[1].folder == item_id{"f2", "fk2"}));
  BOOST_TEST((e[1].old_folder == item_id{"f1", "fk1"}));
  BOOST_TEST(e[1].old_parent_folder_id == "archive");
  BOOST_TEST(e[2].unread_count == 17);
  BOOST_TEST((e[3].type == event_type::free_busy_changed));
  BOOST_TEST(e[3].item.id == "cal");
  BOOST_TEST((e[4].type == event_type::created));
  BOOST_TEST(e[4].is_folder_event);
  BOOST_TEST(e[4].folder.id == "newfolder");
}

BOOST_AUTO_TEST_CASE(streaming_serialisation_with_default_namespace_and_exchange2007_prefix) {
  // Exchange 2013+ streaming: default-namespace Envelope, soap11: on Header
  // and Body, unprefixed ServerVersionInfo with an unknown Version.
  const std::string streaming = std::string("<Envelope xmlns=\"") + soap_ns + "\"><soap11:Header xmlns:soap11=\"" +
                                soap_ns + "\"><ServerVersionInfo xmlns=\"" + t_ns +
                                "\" Version=\"V2099_01_01\"/></soap11:Header><soap11:Body xmlns:soap11=\"" + soap_ns +
                                "\"><m:GetStreamingEventsResponse xmlns:m=\"" + m_ns +
                                "\"><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass=\"Success\">"
                                "<m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus>"
                                "</m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
                                "</m:GetStreamingEventsResponse></soap11:Body></Envelope>";
  auto r = read_get_streaming_events_response(streaming);
  BOOST_REQUIRE(r);
  BOOST_TEST((r->connection() == connection_status::ok));

  // Exchange 2007: XML declaration, soap11: prefix, no Version.
  const std::string e2007 = std::string("<?xml version=\"1.0\"?>\n<soap11:Envelope xmlns:soap11=\"") + soap_ns +
                            "\"><soap11:Header><t:ServerVersionInfo MajorVersion=\"8\" xmlns:t=\"" + t_ns +
                            "\"/></soap11:Header><soap11:Body><UnsubscribeResponse xmlns=\"" + m_ns +
                            "\"><ResponseMessages><UnsubscribeResponseMessage ResponseClass=\"Warning\">"
                            "<ResponseCode>ErrorBrandNewCode</ResponseCode></UnsubscribeResponseMessage>"
                            "</ResponseMessages></UnsubscribeResponse></soap11:Body></soap11:Envelope>\r\n\0\0";
  auto u = read_unsubscribe_response(std::string_view(e2007.data(), e2007.size() + 2));
  BOOST_REQUIRE(u);
  BOOST_TEST(u->status.ok());  // a warning is not an error
  BOOST_TEST((u->status.cls == response_class::warning));
  BOOST_TEST(!u->status.code.has_value());
  BOOST_TEST(u->status.code_text == "ErrorBrandNewCode");
  const auto e = u->status.to_error();
  BOOST_TEST(e.ews_code == response_code::unknown);
  BOOST_TEST(e.response_code_text == "ErrorBrandNewCode");
}

BOOST_AUTO_TEST_CASE(namespaces_are_matched_by_uri_not_prefix) {
  // "m" bound to a foreign URI: not an EWS response, whatever the prefix says.
  const std::string foreign = std::string("<s:Envelope xmlns:s=\"") + soap_ns +
                              "\"><s:Body><m:GetStreamingEventsResponse xmlns:m=\"urn:other\"/></s:Body></s:Envelope>";
  auto r = read_get_streaming_events_response(foreign);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::unexpected_response);

  // An Envelope in another namespace is not a SOAP envelope.
  auto not_soap = read_unsubscribe_response("<s:Envelope xmlns:s=\"urn:x\"><s:Body/></s:Envelope>");
  BOOST_REQUIRE(!not_soap);
  BOOST_TEST(not_soap.error().kind() == errc::unexpected_response);

  // Unusual prefixes and a rebinding on an inner element still resolve.
  const std::string odd = std::string("<e:Envelope xmlns:e=\"") + soap_ns + "\"><e:Body><x:SubscribeResponse xmlns:x=\"" +
                          m_ns + "\"><x:ResponseMessages><x:SubscribeResponseMessage ResponseClass=\"Success\">"
                          "<x:ResponseCode>NoError</x:ResponseCode><y:SubscriptionId xmlns:y=\"" + m_ns +
                          "\">sid</y:SubscriptionId></x:SubscribeResponseMessage></x:ResponseMessages>"
                          "</x:SubscribeResponse></e:Body></e:Envelope>";
  auto s = read_subscribe_response(odd);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->subscription_id == "sid");
}

BOOST_AUTO_TEST_CASE(server_busy_fault_with_prefix_bound_on_faultcode) {
  const std::string text = std::string("<s:Envelope xmlns:s=\"") + soap_ns +
                           "\"><s:Body><s:Fault><faultcode xmlns:a=\"" + t_ns +
                           "\">a:ErrorServerBusy</faultcode><faultstring xml:lang=\"en-US\">The server cannot service "
                           "this request right now. Try again later.</faultstring><detail>"
                           "<e:ResponseCode xmlns:e=\"http://schemas.microsoft.com/exchange/services/2006/errors\">"
                           "ErrorServerBusy</e:ResponseCode><e:Message xmlns:e=\"http://schemas.microsoft.com/exchange/"
                           "services/2006/errors\">The server cannot service this request right now.</e:Message>"
                           "<t:MessageXml xmlns:t=\"" + t_ns + "\"><t:Value Name=\"BackOffMilliseconds\">29875</t:Value>"
                           "<t:Value Name=\"Policy\">ConcurrentSyncCalls</t:Value></t:MessageXml></detail></s:Fault>"
                           "</s:Body></s:Envelope>";
  for (const auto& e : {read_fault(text).value(), read_get_streaming_events_response(text).error(),
                        read_sync_folder_items_response(text).error()}) {
    BOOST_TEST(e.kind() == errc::throttled);
    BOOST_TEST(e.soap_fault_code == "a:ErrorServerBusy");
    BOOST_TEST(e.ews_code == response_code::ErrorServerBusy);
    BOOST_TEST(e.transient);
    BOOST_REQUIRE(e.back_off);
    BOOST_TEST(e.back_off->count() == 29875);
  }

  // No detail at all: the fault code still names the response code.
  const std::string bare = std::string("<s:Envelope xmlns:s=\"") + soap_ns +
                           "\"><s:Body><s:Fault><faultcode xmlns:a=\"" + t_ns +
                           "\">a:ErrorServerBusy</faultcode><faultstring>busy</faultstring></s:Fault></s:Body></s:Envelope>";
  const auto f = read_fault(bare);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->kind() == errc::throttled);
  BOOST_TEST(f->transient);
}

BOOST_AUTO_TEST_CASE(message_status_to_error) {
  const std::string busy = gse(
      "<m:MessageText>Busy.</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode>"
      "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml>"
      "<t:Value Name=\"BackOffMilliseconds\">1500</t:Value></m:MessageXml>",
      "Error");
  auto r = read_get_streaming_events_response(busy);
  BOOST_REQUIRE(r);
  const auto& st = r->messages.at(0).status;
  BOOST_TEST(st.message_xml.at("BackOffMilliseconds") == "1500");
  BOOST_REQUIRE(st.back_off);
  BOOST_TEST(st.back_off->count() == 1500);
  const auto e = st.to_error();
  BOOST_TEST(e.kind() == errc::throttled);
  BOOST_TEST(e.transient);
  BOOST_TEST(e.back_off == st.back_off);
  BOOST_TEST(e.message == "ErrorServerBusy: Busy.");

  message_status transient;
  transient.cls = response_class::error;
  transient.code_text = "ErrorMailboxStoreUnavailable";
  transient.code = response_code::ErrorMailboxStoreUnavailable;
  BOOST_TEST(transient.to_error().kind() == errc::ews_error);
  BOOST_TEST(transient.to_error().transient);

  message_status permanent;
  permanent.cls = response_class::error;
  permanent.code_text = "ErrorItemNotFound";
  permanent.code = response_code::ErrorItemNotFound;
  BOOST_TEST(!permanent.to_error().transient);
  BOOST_TEST(permanent.to_error().ews_code == response_code::ErrorItemNotFound);
}

BOOST_AUTO_TEST_CASE(get_item_recipients_attachments_and_mime) {
  auto r = read_get_item_response(get_item(
      "<t:Message><t:MimeContent CharacterSet=\"UTF-8\">TUlNRQ==</t:MimeContent>"
      "<t:ItemId Id=\"m1\" ChangeKey=\"c1\"/><t:Subject>Quarterly &amp; numbers</t:Subject>"
      "<t:Attachments><t:FileAttachment><t:AttachmentId Id=\"a1\"/><t:Name>report.pdf</t:Name>"
      "<t:ContentType>application/pdf</t:ContentType><t:Size>12345</t:Size><t:IsInline>false</t:IsInline>"
      "</t:FileAttachment><t:FileAttachment><t:AttachmentId Id=\"a2\"/><t:Name>logo.png</t:Name>"
      "<t:ContentType>image/png</t:ContentType><t:Size>99</t:Size><t:IsInline>true</t:IsInline>"
      "</t:FileAttachment></t:Attachments>"
      "<t:ToRecipients><t:Mailbox><t:Name>A</t:Name><t:EmailAddress>a@x.test</t:EmailAddress></t:Mailbox>"
      "<t:Mailbox><t:Name>B</t:Name><t:EmailAddress>b@x.test</t:EmailAddress></t:Mailbox></t:ToRecipients>"
      "<t:CcRecipients><t:Mailbox><t:EmailAddress>c@x.test</t:EmailAddress></t:Mailbox></t:CcRecipients>"
      "<t:BccRecipients><t:Mailbox><t:Name>D</t:Name><t:EmailAddress>d@x.test</t:EmailAddress></t:Mailbox>"
      "</t:BccRecipients><t:IsRead>0</t:IsRead><t:HasAttachments>true</t:HasAttachments>"
      "</t:Message>"));
  BOOST_REQUIRE(r);
  const item& i = r->messages.at(0).value.value();
  BOOST_TEST(i.mime_content == "TUlNRQ==");
  BOOST_TEST(i.subject == "Quarterly & numbers");
  BOOST_REQUIRE_EQUAL(i.attachments.size(), 2u);
  BOOST_TEST(i.attachments[0].id == "a1");
  BOOST_TEST(i.attachments[0].content_type == "application/pdf");
  BOOST_TEST(i.attachments[0].size == 12345);
  BOOST_TEST(!i.attachments[0].is_inline);
  BOOST_TEST(!i.attachments[0].is_item_attachment);
  BOOST_TEST(i.attachments[1].is_inline);
  BOOST_REQUIRE_EQUAL(i.to.size(), 2u);
  BOOST_TEST(i.to[1].email == "b@x.test");
  BOOST_REQUIRE_EQUAL(i.cc.size(), 1u);
  BOOST_TEST(i.cc[0].name.empty());
  BOOST_TEST(i.bcc.at(0).name == "D");
  BOOST_TEST(i.is_read == false);
  BOOST_TEST(i.has_attachments == true);
  BOOST_TEST(!i.body_format.has_value());
}

BOOST_AUTO_TEST_CASE(sync_update_delete_and_read_flag_change) {
  auto r = read_sync_folder_items_response(envelope(
      "<m:SyncFolderItemsResponse><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass=\"Success\">"
      "<m:ResponseCode>NoError</m:ResponseCode><m:SyncState>S2</m:SyncState>"
      "<m:IncludesLastItemInRange>false</m:IncludesLastItemInRange><m:Changes>"
      "<t:Update><t:Message><t:ItemId Id=\"u\" ChangeKey=\"uk\"/><t:IsRead>true</t:IsRead></t:Message></t:Update>"
      "<t:Delete><t:ItemId Id=\"d\" ChangeKey=\"dk\"/></t:Delete>"
      "<t:ReadFlagChange><t:ItemId Id=\"r\" ChangeKey=\"rk\"/><t:IsRead>false</t:IsRead></t:ReadFlagChange>"
      "<t:Create><t:Contact><t:ItemId Id=\"c\"/></t:Contact></t:Create>"
      "</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->sync_state == "S2");
  BOOST_TEST(!r->includes_last_item_in_range);
  BOOST_REQUIRE_EQUAL(r->changes.size(), 4u);
  BOOST_TEST((r->changes[0].kind == sync_change_kind::update));
  BOOST_TEST((r->changes[0].id == item_id{"u", "uk"}));
  BOOST_TEST(r->changes[0].value->is_read == true);
  BOOST_TEST((r->changes[1].kind == sync_change_kind::remove));
  BOOST_TEST((r->changes[1].id == item_id{"d", "dk"}));
  BOOST_TEST(!r->changes[1].value.has_value());
  BOOST_TEST((r->changes[2].kind == sync_change_kind::read_flag_change));
  BOOST_TEST(r->changes[2].is_read == false);
  BOOST_TEST(r->changes[3].value->element == "Contact");
}

// ---- Broken input --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(decimal_and_hex_illegal_references_and_legal_ones) {
  auto r = read_get_item_response(get_item(
      "<t:Message><t:ItemId Id=\"x&#1;y\"/><t:Subject>a&#0;b&#31;c&#x9;d&#65;&#xFFFE;&#xD800;&#99999999999;e</t:Subject>"
      "</t:Message>"));
  BOOST_REQUIRE(r);
  const item& i = r->messages.at(0).value.value();
  BOOST_TEST(i.subject == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\td" "A\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "e");
  BOOST_TEST(i.id.id == "x\xEF\xBF\xBDy");
}

BOOST_AUTO_TEST_CASE(malformed_input_gives_malformed_xml_with_offset) {
  for (const std::string& text : {std::string(), std::string("   \0\0", 5), std::string("<s:Envelope"),
                                 std::string("not xml at all"), std::string("<a><b></a>"),
                                 std::string("<a>&bogus;</a>") + std::string(1, '\x01')}) {
    auto r = read_get_streaming_events_response(text);
    BOOST_REQUIRE(!r);
    BOOST_TEST((r.error().kind() == errc::malformed_xml || r.error().kind() == errc::unexpected_response),
               r.error().message);
  }
  auto r = read_get_item_response("<s:Envelope xmlns:s=\"x\"><s:Body></s:Envelop>");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::malformed_xml);
  BOOST_TEST(r.error().message.find("offset") != std::string::npos);
  BOOST_TEST(!read_fault("<<<").has_value());
}

BOOST_AUTO_TEST_CASE(wrong_shapes_give_unexpected_response) {
  const std::string cases[] = {
      "<html><body>hi</body></html>",
      std::string("<s:Envelope xmlns:s=\"") + soap_ns + "\"/>",
      std::string("<s:Envelope xmlns:s=\"") + soap_ns + "\"><s:Body/></s:Envelope>",
      envelope("<m:GetStreamingEventsResponse/>"),
      gse("<m:ResponseCode>NoError</m:ResponseCode>", "Maybe"),
      "<Envelope/>",
  };
  for (const auto& text : cases) {
    auto r = read_get_streaming_events_response(text);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().kind() == errc::unexpected_response, text);
  }
}

BOOST_AUTO_TEST_CASE(deep_nesting_does_not_recurse) {
  std::string deep;
  const int depth = 200000;
  deep.reserve(depth * 8);
  for (int k = 0; k < depth; ++k) deep += "<t:X>";
  for (int k = 0; k < depth; ++k) deep += "</t:X>";
  auto r = read_get_item_response(get_item("<t:Message><t:Subject>s</t:Subject><t:Body>" + deep + "</t:Body></t:Message>"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->messages.at(0).value->subject == "s");
  // Deep nesting where the reader descends: Notifications/Notification/...
  auto g = read_get_streaming_events_response(gse("<m:Notifications><m:Notification><t:CreatedEvent>" + deep +
                                                  "</t:CreatedEvent></m:Notification></m:Notifications>"));
  BOOST_REQUIRE(g);
  // Deep nesting above the Body.
  std::string deep_envelope = "<a>";
  for (int k = 0; k < depth; ++k) deep_envelope += "<b>";
  for (int k = 0; k < depth; ++k) deep_envelope += "</b>";
  deep_envelope += "</a>";
  BOOST_TEST(!read_sync_folder_items_response(deep_envelope).has_value());
}

BOOST_AUTO_TEST_CASE(every_truncation_of_a_real_stream_is_handled) {
  const std::string whole = slurp(std::filesystem::path(EWS_TEST_DIR) / "fixtures/wire/bookingbug-viewpoint/"
                                                                        "get_streaming_events_response.two-notifications.xml");
  BOOST_REQUIRE(whole.size() > 1000);
  int ok = 0;
  for (std::size_t n = 0; n < whole.size(); n += 3) {
    auto r = read_get_streaming_events_response(std::string_view(whole).substr(0, n));
    if (r) ++ok;
    else BOOST_TEST((r.error().kind() == errc::malformed_xml || r.error().kind() == errc::unexpected_response));
  }
  BOOST_TEST(ok <= 2);  // only with at most trailing whitespace cut
}

BOOST_AUTO_TEST_CASE(mutated_real_envelopes_never_crash) {
  // A small deterministic fuzz: byte flips and inserted '<', '&#', NULs in
  // real envelopes, through every reader. Each must return a value or a
  // typed error.
  const auto dir = std::filesystem::path(EWS_TEST_DIR) / "fixtures/wire";
  const std::string seeds[] = {
      slurp(dir / "bookingbug-viewpoint/get_streaming_events_response.two-notifications.xml"),
      slurp(dir / "otris-ews-cpp/get_item_response_message.xml"),
      slurp(dir / "gromox-captures/07-syncfolderitems-incremental.response.xml"),
      slurp(dir / "kde-akonadi-ews/errorserverbusy.xml"),
  };
  std::mt19937 rng(20261122);
  const std::string inserts[] = {"<", ">", "&#", "&#x0;", std::string(1, '\0'), "</", "xmlns:t=\"\"", "\xFF"};
  int values = 0, errors = 0;
  for (const auto& seed : seeds) {
    for (int round = 0; round < 400; ++round) {
      std::string text = seed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits && !text.empty(); ++k) {
        const std::size_t at = rng() % text.size();
        if (rng() % 2) text[at] = static_cast<char>(rng() % 256);
        else text.insert(at, inserts[rng() % std::size(inserts)]);
      }
      const auto check = [&](const auto& r) {
        if (r) { ++values; return; }
        ++errors;
        const auto kind = r.error().kind();
        BOOST_TEST((kind == errc::malformed_xml || kind == errc::unexpected_response || kind == errc::soap_fault ||
                    kind == errc::throttled));
      };
      check(read_get_streaming_events_response(text));
      check(read_get_item_response(text));
      check(read_sync_folder_items_response(text));
      check(read_subscribe_response(text));
      check(read_unsubscribe_response(text));
      check(read_generic_response(text));
      (void)read_fault(text);
    }
  }
  BOOST_TEST(values > 0);
  BOOST_TEST(errors > 0);
}

BOOST_AUTO_TEST_SUITE_END()
