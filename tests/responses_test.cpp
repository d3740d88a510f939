// The response readers against the recorded wire data in tests/fixtures/wire:
// every response file goes through the reader for its operation, and the
// values asserted below are the ones in the files.

#include <ews/soap/envelope_splitter.hpp>
#include <ews/soap/responses.hpp>

#include "chunked_body.hpp"
#include "responses_test_print.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace ews;
using namespace ews::soap;

namespace {

const fs::path wire_dir = fs::path(EWS_TEST_DIR) / "fixtures" / "wire";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string fixture(const std::string& relative) { return slurp(wire_dir / relative); }

// The envelopes of a recorded gromox streaming body: HTTP chunk framing
// removed, then split like the listener does.
std::vector<std::string> streamed_envelopes(const std::string& relative) {
  const std::string raw = fixture(relative);
  const auto decoded = ews::test::decode_chunked(raw);
  BOOST_REQUIRE(decoded.well_formed);
  envelope_splitter splitter;
  BOOST_REQUIRE(splitter.feed(decoded.body).has_value());
  std::vector<std::string> out;
  for (std::string e; splitter.next(e);) out.push_back(e);
  BOOST_REQUIRE(!splitter.partial());
  return out;
}

std::map<event_type, int> count_events(const get_streaming_events_response& r) {
  std::map<event_type, int> counts;
  for (const auto& m : r.messages)
    for (const auto& n : m.notifications)
      for (const auto& e : n.events) ++counts[e.type];
  return counts;
}

const get_streaming_events_message& only_message(const get_streaming_events_response& r) {
  BOOST_REQUIRE_EQUAL(r.messages.size(), 1u);
  return r.messages.front();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(responses_fixtures)

// ---- every response file ------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_response_file_goes_through_its_reader) {
  std::map<std::string, int> by_operation;
  int files = 0, faults = 0, html = 0;
  for (const auto& entry : fs::recursive_directory_iterator(wire_dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".xml") continue;
    const std::string name = entry.path().filename().string();
    const std::string dir = entry.path().parent_path().filename().string();
    const bool response = name.find("response") != std::string::npos || dir == "otris-ews-cpp" ||
                          dir == "kde-akonadi-ews" || dir == "winrb-viewpoint" || dir == "bookingbug-viewpoint";
    if (!response || name.find("request") != std::string::npos) continue;
    ++files;
    BOOST_TEST_CONTEXT(entry.path().string()) {
      const std::string text = slurp(entry.path());
      auto generic = read_generic_response(text);
      if (!generic) {
        const auto kind = generic.error().kind();
        if (kind == errc::soap_fault || kind == errc::throttled) {
          ++faults;
          const auto fault = read_fault(text);
          BOOST_REQUIRE(fault);
          BOOST_TEST(!fault->soap_fault_code.empty());
          BOOST_TEST(!fault->response_code_text.empty());
          // Every typed reader reports the same fault.
          auto item = read_get_item_response(text);
          BOOST_REQUIRE(!item);
          BOOST_TEST(item.error().soap_fault_code == fault->soap_fault_code);
          continue;
        }
        BOOST_TEST(kind == errc::unexpected_response);
        BOOST_TEST(name.find("response-401") != std::string::npos);
        ++html;
        continue;
      }
      const std::string& op = generic->operation;
      ++by_operation[op];
      BOOST_TEST(!generic->messages.empty());
      for (const auto& m : generic->messages) BOOST_TEST(!m.code_text.empty());
      if (op == "GetItemResponse") {
        auto r = read_get_item_response(text);
        BOOST_REQUIRE(r);
        BOOST_REQUIRE_EQUAL(r->messages.size(), generic->messages.size());
        for (const auto& m : r->messages) {
          BOOST_TEST(m.value.has_value() == m.status.ok());
          if (m.value && dir != "winrb-viewpoint") BOOST_TEST(!m.value->id.id.empty());
        }
      } else if (op == "SyncFolderItemsResponse") {
        auto r = read_sync_folder_items_response(text);
        BOOST_REQUIRE(r);
        BOOST_TEST(!r->sync_state.empty());
      } else if (op == "GetStreamingEventsResponse") {
        BOOST_TEST(read_get_streaming_events_response(text).has_value());
      } else if (op == "SubscribeResponse") {
        auto r = read_subscribe_response(text);
        BOOST_REQUIRE(r);
        BOOST_TEST(!r->subscription_id.empty());
      } else if (op == "UnsubscribeResponse") {
        BOOST_TEST(read_unsubscribe_response(text).has_value());
      }
      // A reader for another operation refuses the envelope, typed.
      if (op != "GetItemResponse") {
        auto wrong = read_get_item_response(text);
        BOOST_REQUIRE(!wrong);
        BOOST_TEST(wrong.error().kind() == errc::unexpected_response);
      }
    }
  }
  BOOST_TEST_MESSAGE("response files: " << files << ", faults: " << faults << ", html: " << html);
  BOOST_TEST(faults == 3);  // 2 gnome schema-validation faults (2007, 2010), kde ErrorServerBusy
  BOOST_TEST(html == 1);
  BOOST_TEST(by_operation["GetItemResponse"] == 11);
  BOOST_TEST(by_operation["SyncFolderItemsResponse"] == 5);
  BOOST_TEST(by_operation["GetStreamingEventsResponse"] == 3);
  BOOST_TEST(by_operation["SubscribeResponse"] == 5);
  BOOST_TEST(by_operation["UnsubscribeResponse"] == 2);
  BOOST_TEST(files == 120);  // 166 XML files minus requests
}

// The copying readers are the in-place ones on a copy, so every test here
// reads in place; what the in-place form adds is that the caller's buffer
// keeps its memory (the item fetcher lends it to the next GetItem call).
BOOST_AUTO_TEST_CASE(reading_in_place_leaves_the_buffer_its_memory) {
  std::string buffer = fixture("gromox-captures/04-getitem.response.xml") + std::string("\r\n\0", 3);
  const char* const memory = buffer.data();
  const std::size_t capacity = buffer.capacity();
  const auto r = read_get_item_response_in_place(buffer);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->messages.at(0).value->subject == "EWS streaming test 1");
  BOOST_TEST(static_cast<const void*>(buffer.data()) == static_cast<const void*>(memory));
  BOOST_TEST(buffer.capacity() == capacity);
  std::string stream = streamed_envelopes("gromox-captures/02-getstreamingevents.response.raw").at(0);
  const char* const stream_memory = stream.data();
  BOOST_TEST(read_get_streaming_events_response_in_place(stream).has_value());
  BOOST_TEST(static_cast<const void*>(stream.data()) == static_cast<const void*>(stream_memory));
}

// ---- Subscribe / Unsubscribe --------------------------------------------------

BOOST_AUTO_TEST_CASE(gromox_subscribe) {
  auto r = read_subscribe_response(fixture("gromox-captures/01-subscribe.response.xml"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status.ok());
  BOOST_TEST(r->status.code == response_code::NoError);
  BOOST_TEST(r->subscription_id == "AQAAAAUAAAA=");
  BOOST_TEST(r->watermark.empty());
}

BOOST_AUTO_TEST_CASE(otris_pull_subscribe_default_namespace_operation) {
  // <SubscribeResponse xmlns="...messages"> with m:-prefixed children.
  auto r = read_subscribe_response(fixture("otris-ews-cpp/subscribe_response.xml"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->subscription_id == "abc-foo-123-456");
  BOOST_TEST(r->watermark == "AAAAAHgGAAAAAAAAAQ==");
}

BOOST_AUTO_TEST_CASE(gromox_unsubscribe_and_again) {
  auto ok = read_unsubscribe_response(fixture("gromox-captures/08-unsubscribe.response.xml"));
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->status.ok());

  auto again = read_unsubscribe_response(fixture("gromox-captures/10-unsubscribe-again.response.xml"));
  BOOST_REQUIRE(again);
  BOOST_TEST(!again->status.ok());
  BOOST_TEST(again->status.code == response_code::ErrorSubscriptionNotFound);
  BOOST_TEST(again->status.message_text == "Subscription not found");
  const auto e = again->status.to_error();
  BOOST_TEST(e.kind() == errc::ews_error);
  BOOST_TEST(e.response_code_text == "ErrorSubscriptionNotFound");
  BOOST_TEST(!e.transient);
}

// ---- GetItem --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gromox_get_item_message) {
  auto r = read_get_item_response(fixture("gromox-captures/04-getitem.response.xml"));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->messages.size(), 1u);
  const auto& m = r->messages[0];
  BOOST_TEST(m.status.code == response_code::NoError);
  BOOST_REQUIRE(m.value);
  const item& i = *m.value;
  BOOST_TEST(i.element == "Message");
  BOOST_TEST(i.id.id == "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=");
  BOOST_TEST(i.id.change_key == "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg==");
  BOOST_TEST(i.item_class == "IPM.Note");
  BOOST_TEST(i.subject == "EWS streaming test 1");
  BOOST_REQUIRE(i.body_format);
  BOOST_TEST((*i.body_format == body_type::text));
  BOOST_TEST(i.body == "Hello Alice, this is a streaming notification test.\n\n");
  BOOST_TEST(i.date_time_received == "2026-11-22T17:54:23Z");
  BOOST_TEST(i.date_time_sent == "2026-11-22T17:54:23Z");
  BOOST_TEST(i.date_time_created == "2026-11-22T17:54:23Z");
  BOOST_TEST(i.size == 2778);
  BOOST_TEST(i.has_attachments == false);
  BOOST_TEST(!i.is_read.has_value());
  BOOST_REQUIRE(i.sender);
  BOOST_TEST(i.sender->email == "bob@sender.test");
  BOOST_REQUIRE(i.from);
  BOOST_TEST(i.from->name == "bob@sender.test");
  BOOST_TEST(i.from->email == "bob@sender.test");
  BOOST_TEST(i.to.empty());
}

BOOST_AUTO_TEST_CASE(gromox_get_item_error) {
  auto r = read_get_item_response(fixture("gromox-captures/04a-getitem-empty-id-error.response.xml"));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r->messages.size(), 1u);
  const auto& m = r->messages[0];
  BOOST_TEST(!m.status.ok());
  BOOST_TEST(m.status.code == response_code::ErrorInvalidId);
  BOOST_TEST(m.status.message_text == "E-3149: failed to deserialize item entry id");
  BOOST_TEST(!m.value.has_value());
}

BOOST_AUTO_TEST_CASE(exchange_online_get_item_message) {
  auto r = read_get_item_response(fixture("garethp-php-ews/extracted/MailAPITest.testGetSingleMailItem.10-response-200.xml"));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->messages.at(0).value);
  const item& i = *r->messages[0].value;
  BOOST_TEST(i.element == "Message");
  BOOST_TEST(i.id.change_key == "CQAAABYAAACzH/qwpZTUR64kCgQ9LRICAASpMzJh");
  BOOST_TEST(i.parent_folder_id ==
             "AAMkAGM0N2Q1NmIyLWZkOTYtNDUzMi04MzM4LTczZDljOGM4OWNiZgAuAAAAAAA5BTDj02oBRKpdOCyb7R//AQCzH/qwpZTUR64kCgQ9LRICAASpIQ4dAAA=");
  BOOST_TEST(i.subject == "Test Message");
  BOOST_TEST((i.body_format == body_type::html));
  BOOST_TEST(i.body.find("Test Draft Body") != std::string::npos);
  BOOST_TEST(i.body.rfind("<html><head>\r\n", 0) == 0);  // &#xD; kept: it is legal
  BOOST_TEST(i.is_read == true);
  BOOST_TEST(i.size == 1958);
  BOOST_TEST(i.internet_message_id ==
             "<DU7PPFC05AD3D4A844B0C3566527EDA9154EE05A@DU7PPFC05AD3D4A.EURP251.PROD.OUTLOOK.COM>");
}

BOOST_AUTO_TEST_CASE(ndr_with_trailing_nul_mime_and_item_attachment) {
  const std::string text = fixture("otris-ews-cpp/undeliverable_test_mail_get_item_response.xml");
  BOOST_REQUIRE(text.back() == '\0');
  auto r = read_get_item_response(text);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->messages.at(0).value);
  const item& i = *r->messages[0].value;
  BOOST_TEST(i.subject == "Undeliverable: Test mail");
  BOOST_TEST(i.id.change_key == "FwAAABYAAAA5VVNr9VuwRKflbHd457lbAABjX/nX");
  BOOST_TEST(i.mime_content.rfind("UmVjZWl2ZWQ6IGZyb20gZHVja2J1cmcyMDEzLm90cmlzLmRl", 0) == 0);
  BOOST_TEST(i.size == 20660);
  BOOST_REQUIRE_EQUAL(i.attachments.size(), 1u);
  const auto& a = i.attachments[0];
  BOOST_TEST(a.is_item_attachment);
  BOOST_TEST(a.name == "Test mail");
  BOOST_TEST(a.size == 6981);
  BOOST_TEST(!a.is_inline);
  BOOST_TEST(a.id.rfind("AAMkAGUyMzlhODA1", 0) == 0);
}

BOOST_AUTO_TEST_CASE(calendar_item_common_fields) {
  auto r = read_get_item_response(fixture("otris-ews-cpp/get_item_response_message.xml"));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->messages.at(0).value);
  const item& i = *r->messages[0].value;
  BOOST_TEST(i.element == "CalendarItem");
  BOOST_TEST(i.subject == "Meet the Fockers");
  BOOST_TEST(i.size == 3614);
  BOOST_TEST((i.body_format == body_type::text));
  BOOST_TEST(i.body.empty());
}

BOOST_AUTO_TEST_CASE(illegal_character_references_are_replaced) {
  // winrb-viewpoint: &#x0; .. &#x1F; (minus tab/LF/CR) in a Body; not
  // well-formed XML 1.0. Each becomes U+FFFD.
  auto r = read_get_item_response(fixture("winrb-viewpoint/dodgy_ews_response.xml"));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->messages.at(0).value);
  const item& i = *r->messages[0].value;
  BOOST_TEST(i.subject == "Invalid character");
  BOOST_TEST(i.body.rfind("Invalid characters: \xEF\xBF\xBD \xEF\xBF\xBD ", 0) == 0);
  std::size_t replaced = 0;
  for (std::size_t p = i.body.find("\xEF\xBF\xBD"); p != std::string::npos; p = i.body.find("\xEF\xBF\xBD", p + 3))
    ++replaced;
  BOOST_TEST(replaced == 29u);
  BOOST_TEST(i.body.find('\0') == std::string::npos);
  BOOST_TEST(i.size == 42);
}

// ---- SyncFolderItems --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gromox_sync_initial_and_incremental) {
  auto initial = read_sync_folder_items_response(fixture("gromox-captures/05-syncfolderitems-initial.response.xml"));
  BOOST_REQUIRE(initial);
  BOOST_TEST(initial->status.ok());
  BOOST_TEST(initial->includes_last_item_in_range);
  BOOST_REQUIRE_EQUAL(initial->changes.size(), 1u);
  BOOST_TEST((initial->changes[0].kind == sync_change_kind::create));
  BOOST_TEST(initial->changes[0].id.id ==
             "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=");

  auto inc = read_sync_folder_items_response(fixture("gromox-captures/07-syncfolderitems-incremental.response.xml"));
  BOOST_REQUIRE(inc);
  BOOST_TEST(inc->sync_state == "AgACARdAEAAAAAEAUgAAAAMAAAAAAAMAAQACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHwA=");
  BOOST_TEST(inc->includes_last_item_in_range);
  BOOST_REQUIRE_EQUAL(inc->changes.size(), 1u);
  const auto& c = inc->changes[0];
  BOOST_TEST((c.kind == sync_change_kind::create));
  BOOST_TEST(c.id.id == "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAEAAAM=");
  BOOST_TEST(c.id.change_key == "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHw==");
  BOOST_REQUIRE(c.value);
  BOOST_TEST(c.value->element == "Message");
  BOOST_TEST(c.value->date_time_received == "2026-11-22T17:54:42Z");
  BOOST_TEST(initial->sync_state != inc->sync_state);
}

BOOST_AUTO_TEST_CASE(exchange_online_sync_calendar_create) {
  auto r = read_sync_folder_items_response(fixture("garethp-php-ews/extracted/APITest.testListItemChanges.03-response-200.xml"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->sync_state.rfind("H4sIAAAAAAAEAGNgYGcAAotqE0tHE2NTA0ddZ3NHC10TR2djXSdnJ2ddNyMnC2cnczdLU1OD2vBgveDKvOTgksSSVOfE", 0) == 0);
  BOOST_REQUIRE_EQUAL(r->changes.size(), 1u);
  BOOST_REQUIRE(r->changes[0].value);
  BOOST_TEST(r->changes[0].value->element == "CalendarItem");
  BOOST_TEST(r->changes[0].value->subject == "Test Sync Item Changes");
  BOOST_TEST(r->changes[0].id.change_key == "DwAAABYAAAC30utV9Qm1Tp6i563HuBDKAAER7Bmo");
}

// ---- GetStreamingEvents: single envelopes ---------------------------------------

BOOST_AUTO_TEST_CASE(exchange2016_two_notifications_m_notification) {
  auto r = read_get_streaming_events_response(
      fixture("bookingbug-viewpoint/get_streaming_events_response.two-notifications.xml"));
  BOOST_REQUIRE(r);
  const auto& m = only_message(*r);
  BOOST_TEST(m.status.ok());
  BOOST_REQUIRE_EQUAL(m.notifications.size(), 2u);
  BOOST_TEST(m.notifications[0].subscription_id ==
             "FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAACRSuDZ7LUVRZRdTUGgj8dRTln61/P61ggQAAAAXGkYiHJpukmWTKXM27pVgQ==");
  BOOST_TEST(m.notifications[1].subscription_id ==
             "FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAAB9DEFxT0GoT76vzMfF9cAfJeXk1/P61ggQAAAAzx24c/i+nkuy00/tlBOrpQ==");
  BOOST_TEST(m.notifications[0].events.size() == 7u);
  const auto counts = count_events(*r);
  BOOST_TEST(counts.at(event_type::modified) == 8);
  BOOST_TEST(counts.at(event_type::free_busy_changed) == 6);
  BOOST_TEST(counts.size() == 2u);

  const auto& first = m.notifications[0].events[0];
  BOOST_TEST((first.type == event_type::modified));
  BOOST_TEST(!first.is_folder_event);
  BOOST_TEST(first.timestamp == "2019-06-27T11:37:36Z");
  BOOST_TEST(first.item.change_key == "DwAAAA==");
  BOOST_TEST(first.item.id.rfind("AAMkADg4MTg2OTVjLTY5NzItNDliYS05NjRjLWE1Y2NkYmJhNTU4MQBGAAAAAAAnT", 0) == 0);
  BOOST_TEST(first.parent_folder_id ==
             "AAMkADg4MTg2OTVjLTY5NzItNDliYS05NjRjLWE1Y2NkYmJhNTU4MQAuAAAAAAAnT+v/XrekSJPJnfajaVp7AQB4AcCri66ATqtSWLqPBV/jAAAAAAENAAA=");

  const auto& folder = m.notifications[0].events[6];
  BOOST_TEST((folder.type == event_type::modified));
  BOOST_TEST(folder.is_folder_event);
  BOOST_TEST(folder.folder.change_key == "AgAAAA==");
  BOOST_TEST(folder.item.id.empty());
  BOOST_TEST(!folder.unread_count.has_value());
  BOOST_TEST((r->connection() == connection_status::none));  // this capture has no ConnectionStatus
}

BOOST_AUTO_TEST_CASE(exchange2016_closed_without_notifications) {
  auto r = read_get_streaming_events_response(
      fixture("bookingbug-viewpoint/get_streaming_events_response.closed-no-notifications.xml"));
  BOOST_REQUIRE(r);
  const auto& m = only_message(*r);
  BOOST_TEST(m.notifications.empty());
  BOOST_TEST((m.connection == connection_status::closed));
  BOOST_TEST((r->connection() == connection_status::closed));
}

BOOST_AUTO_TEST_CASE(handwritten_invalid_subscription_m_subscription_ids) {
  auto r = read_get_streaming_events_response(
      fixture("bookingbug-viewpoint/get_streaming_events_response.error-invalid-subscription.handwritten.xml"));
  BOOST_REQUIRE(r);
  const auto& m = only_message(*r);
  BOOST_TEST(!m.status.ok());
  BOOST_TEST(m.status.code == response_code::ErrorInvalidSubscription);
  BOOST_TEST(m.status.message_text == "Some Error");
  BOOST_TEST(m.error_subscription_ids ==
             (std::vector<std::string>{"SomeErrorSubscriptionId_1", "SomeErrorSubscriptionId_2"}));
  BOOST_TEST((m.connection == connection_status::closed));
}

// ---- GetStreamingEvents: gromox streams ------------------------------------------

BOOST_AUTO_TEST_CASE(gromox_02_events_keepalives_and_close) {
  const auto envelopes = streamed_envelopes("gromox-captures/02-getstreamingevents.response.raw");
  BOOST_REQUIRE_EQUAL(envelopes.size(), 5u);
  std::vector<get_streaming_events_response> rs;
  for (const auto& e : envelopes) {
    auto r = read_get_streaming_events_response(e);
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->messages.size(), 1u);
    BOOST_TEST(r->messages[0].status.code == response_code::NoError);
    rs.push_back(std::move(*r));
  }
  // 1: keep-alive, empty <m:Notifications/>.
  BOOST_TEST(rs[0].messages[0].notifications.empty());
  BOOST_TEST((rs[0].connection() == connection_status::ok));
  // 2, 3: Created + Modified (folder, UnreadCount) + NewMail.
  for (int k : {1, 2}) {
    const auto& n = rs[k].messages[0].notifications;
    BOOST_REQUIRE_EQUAL(n.size(), 1u);
    BOOST_TEST(n[0].subscription_id == "AQAAAAUAAAA=");
    BOOST_TEST(!n[0].more_events);
    BOOST_REQUIRE_EQUAL(n[0].events.size(), 3u);
    BOOST_TEST((n[0].events[0].type == event_type::created));
    BOOST_TEST((n[0].events[1].type == event_type::modified));
    BOOST_TEST((n[0].events[2].type == event_type::new_mail));
    BOOST_TEST(n[0].events[1].is_folder_event);
    BOOST_TEST(n[0].events[2].item.change_key.empty());  // gromox sends none on NewMailEvent
    BOOST_TEST((rs[k].connection() == connection_status::ok));
  }
  const auto& created = rs[1].messages[0].notifications[0].events[0];
  BOOST_TEST(created.timestamp == "2026-11-22T17:54:23.274265952Z");
  BOOST_TEST(created.item.id == "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=");
  BOOST_TEST(created.parent_folder_id == "AAAAAOAkrrjUqXBLg6exWUisHu4BAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAI=");
  const auto& modified = rs[1].messages[0].notifications[0].events[1];
  BOOST_TEST(modified.folder.id == "AAAAAOAkrrjUqXBLg6exWUisHu4BAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAI=");
  BOOST_TEST(modified.unread_count == 1);
  BOOST_TEST(rs[2].messages[0].notifications[0].events[1].unread_count == 2);
  // 4: StatusEvent, then Closed.
  const auto& status = rs[3].messages[0].notifications;
  BOOST_REQUIRE_EQUAL(status.size(), 1u);
  BOOST_REQUIRE_EQUAL(status[0].events.size(), 1u);
  BOOST_TEST((status[0].events[0].type == event_type::status));
  BOOST_TEST((rs[3].connection() == connection_status::closed));
  BOOST_TEST((rs[4].connection() == connection_status::closed));
  BOOST_TEST(rs[4].messages[0].notifications.empty());
}

BOOST_AUTO_TEST_CASE(gromox_09_invalid_subscription_unqualified_subscription_id) {
  const auto envelopes = streamed_envelopes("gromox-captures/09-getstreamingevents-after-unsubscribe.response.raw");
  BOOST_REQUIRE_EQUAL(envelopes.size(), 3u);
  for (int k : {0, 1}) {
    auto r = read_get_streaming_events_response(envelopes[k]);
    BOOST_REQUIRE(r);
    const auto& m = only_message(*r);
    BOOST_TEST(!m.status.ok());
    BOOST_TEST(m.status.code == response_code::ErrorInvalidSubscription);
    BOOST_TEST(m.status.message_text == "Subscription is invalid.");
    BOOST_TEST(m.error_subscription_ids == std::vector<std::string>{"AQAAAAUAAAA="});
    BOOST_TEST((m.connection == connection_status::closed));
    BOOST_TEST(!m.status.to_error().transient);
  }
  auto last = read_get_streaming_events_response(envelopes[2]);
  BOOST_REQUIRE(last);
  BOOST_TEST(only_message(*last).status.ok());
  BOOST_TEST((last->connection() == connection_status::closed));
}

BOOST_AUTO_TEST_CASE(gromox_other_streams) {
  struct expectation {
    const char* file;
    std::size_t envelopes;
    int created, modified, new_mail, status;
    connection_status last;
  };
  const expectation cases[] = {
      {"gromox-captures/13-gse-timeout-45.response.raw", 1, 0, 0, 0, 0, connection_status::ok},
      {"gromox-captures/14a-gse-first-connection.response.raw", 2, 0, 0, 0, 0, connection_status::closed},
      {"gromox-captures/14b-gse-second-connection.response.raw", 5, 1, 1, 1, 2, connection_status::closed},
      {"gromox-captures/15-gse-after-6min-idle.response.raw", 1, 0, 0, 0, 0, connection_status::closed},
      {"gromox-captures/16b-gse-reconnect-with-queued-events.response.raw", 2, 1, 1, 1, 0, connection_status::ok},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.file) {
      const auto envelopes = streamed_envelopes(c.file);
      BOOST_REQUIRE_EQUAL(envelopes.size(), c.envelopes);
      std::map<event_type, int> counts;
      connection_status last = connection_status::none;
      for (const auto& e : envelopes) {
        auto r = read_get_streaming_events_response(e);
        BOOST_REQUIRE(r);
        for (const auto& [type, n] : count_events(*r)) counts[type] += n;
        last = r->connection();
      }
      BOOST_TEST(counts[event_type::created] == c.created);
      BOOST_TEST(counts[event_type::modified] == c.modified);
      BOOST_TEST(counts[event_type::new_mail] == c.new_mail);
      BOOST_TEST(counts[event_type::status] == c.status);
      BOOST_TEST((last == c.last));
    }
  }
  auto expired = read_get_streaming_events_response(
      streamed_envelopes("gromox-captures/15-gse-after-6min-idle.response.raw").at(0));
  BOOST_REQUIRE(expired);
  BOOST_TEST(only_message(*expired).status.code == response_code::ErrorInvalidSubscription);
  BOOST_TEST(only_message(*expired).error_subscription_ids == std::vector<std::string>{"BAAAAAUAAAA="});
}

// ---- Faults -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gromox_missing_timeout_fault_on_http_200) {
  // Not chunked (Content-Length): the body is the envelope.
  const std::string text = fixture("gromox-captures/13-gse-timeout-missing.response.raw");
  auto r = read_get_streaming_events_response(text);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::soap_fault);
  BOOST_TEST(r.error().soap_fault_code == "SOAP:Client");
  BOOST_TEST(r.error().message.find("E-3046: missing required child element") != std::string::npos);
  BOOST_TEST(!r.error().ews_code.has_value());
  BOOST_TEST(!r.error().transient);
}

BOOST_AUTO_TEST_CASE(server_busy_fault) {
  const std::string text = fixture("kde-akonadi-ews/errorserverbusy.xml");
  const auto f = read_fault(text);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->kind() == errc::throttled);
  BOOST_TEST(f->soap_fault_code == "t:ErrorServerBusy");
  BOOST_TEST(f->ews_code == response_code::ErrorServerBusy);
  BOOST_TEST(f->response_code_text == "ErrorServerBusy");
  BOOST_TEST(f->transient);
  BOOST_TEST(!f->back_off.has_value());  // this sample names a policy, no BackOffMilliseconds
  BOOST_TEST(f->message.find("The server cannot service this request right now") != std::string::npos);
  auto r = read_subscribe_response(text);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::throttled);
}

BOOST_AUTO_TEST_CASE(schema_validation_faults_2007_and_2010) {
  const auto f2007 = read_fault(fixture(
      "gnome-evolution-ews/extracted/Exchange2007_SP1/create_folder_with_invalid_distinguished_parent_id.02-response-500.xml"));
  BOOST_REQUIRE(f2007);
  BOOST_TEST(f2007->kind() == errc::soap_fault);
  BOOST_TEST(f2007->soap_fault_code == "soap11:Client");
  BOOST_TEST(f2007->ews_code == response_code::ErrorSchemaValidation);
  BOOST_TEST(!f2007->transient);

  const auto f2010 = read_fault(fixture(
      "gnome-evolution-ews/extracted/Exchange2010_SP2/create_folder_with_invalid_distinguished_parent_id.02-response-500.xml"));
  BOOST_REQUIRE(f2010);
  BOOST_TEST(f2010->soap_fault_code == "a:ErrorSchemaValidation");
  BOOST_TEST(f2010->ews_code == response_code::ErrorSchemaValidation);
  BOOST_TEST(f2010->message.find("The request failed schema validation") != std::string::npos);

  BOOST_TEST(!read_fault(fixture("gromox-captures/04-getitem.response.xml")).has_value());
}

BOOST_AUTO_TEST_CASE(html_401_page_is_unexpected_response) {
  const std::string text =
      fixture("gnome-evolution-ews/extracted/Exchange2007_SP1/create_existing_folder.02-response-401.xml");
  auto r = read_get_item_response(text);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::unexpected_response);
  BOOST_TEST(r.error().message.find("You are not authorized to view this page") != std::string::npos);
  BOOST_TEST(!read_fault(text).has_value());
}

BOOST_AUTO_TEST_CASE(generic_reader_for_other_operations) {
  auto r = read_generic_response(fixture(
      "gnome-evolution-ews/extracted/Exchange2007_SP1/create_folder_with_malformed_parent_id.02-response-200.xml"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->operation == "CreateFolderResponse");
  BOOST_REQUIRE_EQUAL(r->messages.size(), 1u);
  BOOST_TEST(r->messages[0].code == response_code::ErrorInvalidIdMalformed);
  BOOST_TEST(r->messages[0].message_text == "Id is malformed.");
}

BOOST_AUTO_TEST_SUITE_END()
