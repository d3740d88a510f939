// The listener end to end: the real HTTP transport against the replay server
// on 127.0.0.1, playing real server forms (gromox's prefixed envelopes with
// StatusEvent keep-alives; Exchange 2016's unprefixed Envelope with
// m:Notification). Time for watchdog and back-off is a manual clock, so
// nothing here waits for a timer in real time.

#include <ews/listener.hpp>
#include <ews/testing/replay_server.hpp>

#include "schema_validator.hpp"
#include "streaming_wire.hpp"
#include "test_engine.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
namespace rt = ews::testing;
namespace soap = ews::soap;
using ews::test::eventually;

namespace {

const std::string scenarios = std::string(EWS_TEST_DIR) + "/fixtures/scenarios/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Event elements in a fixture (StatusEvent excluded: keep-alives never reach a handler).
std::vector<std::string> event_names(const std::string& xml) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = xml.find("<t:", pos)) != std::string::npos) {
    const auto end = xml.find_first_of(" />", pos);
    const std::string name = xml.substr(pos + 3, end - pos - 3);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, "Event") == 0 && name != "StatusEvent")
      out.push_back(name.substr(0, name.size() - 5));
    pos = end;
  }
  return out;
}

std::string header(const rt::received_request& r, const std::string& name) {
  return soap::find_header(r.headers, name).value_or("");
}

rt::chunk chunk_of(std::string data) {
  rt::chunk c;
  c.data = std::move(data);
  return c;
}

rt::exchange exchange_of(std::string operation, rt::response r, std::vector<std::string> body_contains = {}) {
  rt::exchange e;
  e.label = operation;
  e.expect.operation = std::move(operation);
  e.expect.body_contains = std::move(body_contains);
  e.respond = std::move(r);
  return e;
}

rt::response held_stream(std::vector<rt::chunk> chunks) {
  auto r = rt::streaming_response(std::move(chunks), rt::ending::hold);
  r.hold_for = 60s;
  return r;
}

struct recorder {
  std::mutex mutex;
  std::vector<ews::mailbox_event> events;
  std::vector<ews::gap> gaps;
  std::vector<ews::error_info> errors;
  std::set<std::thread::id> threads;

  void attach(ews::listener& l) {
    l.on_notification([this](const ews::mailbox_event& e) {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(e);
      threads.insert(std::this_thread::get_id());
    });
    l.on_gap([this](const ews::gap& g) {
      std::lock_guard<std::mutex> lock(mutex);
      gaps.push_back(g);
    });
    l.on_error([this](const ews::error_info& e) {
      std::lock_guard<std::mutex> lock(mutex);
      errors.push_back(e);
    });
  }
  std::size_t event_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return events.size();
  }
  std::size_t gap_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return gaps.size();
  }
  std::size_t error_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return errors.size();
  }
};

ews::listener_options options_for(const rt::replay_server& server, std::shared_ptr<ews::manual_clock> clock) {
  ews::listener_options o;
  o.url = server.url();
  o.transport.engine = ews::test::http_engine_under_test();
  o.clock = std::move(clock);
  o.backoff.random = [] { return 0.0; };
  o.events = {soap::event_type::new_mail, soap::event_type::created, soap::event_type::modified};
  return o;
}

// Every request the listener sent validates against the schema; none was SyncFolderItems.
void check_requests(const rt::replay_server& server) {
  for (const auto& r : server.received()) {
    BOOST_TEST(r.operation != "SyncFolderItems");
    const std::string problems = ews::test::validate_request(r.body, ews::test::schema_set::exchange_online);
    BOOST_TEST(problems.empty(), r.operation << ": " << problems);
  }
}

std::string wire_subscribe(const std::string& id) { return ews::test::wire::subscribe_response(id); }

const std::string gromox_dir = scenarios + "gromox-stream-and-fetch/";
const std::string gromox_id = "AQAAAAUAAAA=";

// A Subscribe, then a stream that sends its head and nothing more.
rt::scenario silent_session() {
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  rt::response silent = rt::streaming_response({rt::chunk{}}, rt::ending::hold);
  silent.hold_for = 60s;
  s.exchanges.push_back(exchange_of("GetStreamingEvents", silent));
  return s;
}

// Unsubscribe gets no answer at all: stop() must not wait for the server.
void ignore_unsubscribe(rt::replay_server& server) {
  server.on("Unsubscribe", [](const rt::received_request&) {
    rt::response r;
    r.raw = std::string();
    r.end = rt::ending::hold;
    r.hold_for = 60s;
    return r;
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(listener)

BOOST_AUTO_TEST_CASE(invalid_options_are_refused) {
  ews::listener_options o;
  BOOST_CHECK_THROW(ews::listener{o}, ews::error);  // no url
  o.url = "http://127.0.0.1:1/EWS/Exchange.asmx";
  o.connection_timeout_minutes = 0;
  BOOST_CHECK_THROW(ews::listener{o}, ews::error);
  o.connection_timeout_minutes = 30;
  o.events = {soap::event_type::status};
  BOOST_CHECK_THROW(ews::listener{o}, ews::error);
  o.events = {soap::event_type::new_mail};
  o.mailboxes = {""};
  BOOST_CHECK_THROW(ews::listener{o}, ews::error);
}

// gromox: Subscribe, a stream with one mail (twice: the capture's two
// deliveries), keep-alives and Closed while the server keeps the socket open;
// we reopen at once with the same id, and stop cleanly with an Unsubscribe.
BOOST_AUTO_TEST_CASE(gromox_normal_flow_and_renewal_on_closed) {
  const std::string dir = scenarios + "streaming-gromox-renewal/";
  auto loaded = rt::load_scenario(dir);
  BOOST_REQUIRE_MESSAGE(loaded.has_value(), (loaded ? "" : loaded.error().message));
  std::string all;
  for (int i = 1; i <= 5; ++i) all += read_file(dir + "stream.chunk-0" + std::to_string(i) + ".xml");
  rt::replay_server server(*loaded);

  auto clock = std::make_shared<ews::manual_clock>();
  ews::listener l(options_for(server, clock));
  recorder rec;
  rec.attach(l);
  l.start();

  const auto expected = event_names(all);
  BOOST_REQUIRE_EQUAL(expected.size(), 6u);  // Created, Modified, NewMail, twice
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  BOOST_TEST(eventually([&] { return rec.event_count() == expected.size(); }, 10s));
  {
    std::lock_guard<std::mutex> lock(rec.mutex);
    BOOST_REQUIRE_EQUAL(rec.events.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      BOOST_TEST(soap::to_string(rec.events[i].event.type) == expected[i]);
    BOOST_TEST(rec.events[2].event.item.id ==
               "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=");
    BOOST_TEST(rec.events[2].event.item.change_key.empty());  // gromox sends none on NewMailEvent
    BOOST_TEST(rec.events[2].subscription_id == gromox_id);
    BOOST_TEST(rec.events[2].mailbox.empty());
    BOOST_TEST(rec.events[1].event.is_folder_event);
    // One dispatcher thread, not ours.
    BOOST_TEST(rec.threads.size() == 1u);
    BOOST_TEST((rec.threads.count(std::this_thread::get_id()) == 0));
  }
  auto c = l.counters();
  BOOST_TEST(c.streaming.reconnects_for(soap::reconnect_cause::closed) >= 1u);
  BOOST_TEST(c.streaming.subscribes == 1u);
  BOOST_TEST(c.streaming.events_of(soap::event_type::status) >= 1u);  // the keep-alive before Closed
  BOOST_TEST(c.streaming.events_of(soap::event_type::new_mail) == 2u);
  BOOST_TEST(c.delivered == 6u);
  // Everything up to the first Closed was read; what follows it is ignored.
  BOOST_TEST(c.streaming.bytes >= all.size() - read_file(dir + "stream.chunk-05.xml").size());

  const auto t0 = std::chrono::steady_clock::now();
  l.stop();
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
  BOOST_TEST(server.count("Unsubscribe") == 1u);
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
  check_requests(server);
  BOOST_TEST(rec.gap_count() == 0u);
}

// Exchange 2016's form for two impersonated mailboxes: affinity headers on
// Subscribe, the back-end cookie echoed, the envelope split mid-way.
BOOST_AUTO_TEST_CASE(exchange_form_two_mailboxes_with_affinity) {
  const std::string dir = scenarios + "exchange2016-assembled-stream/";
  std::string all;
  std::vector<rt::chunk> chunks;
  for (int i = 1; i <= 5; ++i) {
    all += read_file(dir + "stream.chunk-0" + std::to_string(i) + ".xml");
    chunks.push_back(chunk_of(read_file(dir + "stream.chunk-0" + std::to_string(i) + ".xml")));
  }
  const std::string id_a =
      "FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAACRSuDZ7LUVRZRdTUGgj8dRTln61/P61ggQAAAAXGkYiHJpukmWTKXM27pVgQ==";
  const std::string id_b =
      "FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAAB9DEFxT0GoT76vzMfF9cAfJeXk1/P61ggQAAAAzx24c/i+nkuy00/tlBOrpQ==";
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  auto sub_a = exchange_of("Subscribe", rt::soap_response(wire_subscribe(id_a)), {"<t:SmtpAddress>anna@example.com<"});
  sub_a.expect.header_equals = {{"X-AnchorMailbox", "anna@example.com"}, {"X-PreferServerAffinity", "true"}};
  sub_a.expect.header_absent = {"Cookie"};
  sub_a.respond.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=EXCH03.bookingbug.local~1942002583; path=/"});
  auto sub_b = exchange_of("Subscribe", rt::soap_response(wire_subscribe(id_b)), {"<t:SmtpAddress>bert@example.com<"});
  sub_b.expect.header_equals = {{"X-AnchorMailbox", "anna@example.com"}, {"X-PreferServerAffinity", "true"}};
  sub_b.expect.header_contains = {{"Cookie", "X-BackEndOverrideCookie=EXCH03.bookingbug.local~1942002583"}};
  auto gse = exchange_of("GetStreamingEvents", held_stream(chunks), {id_a, id_b});
  gse.expect.header_equals = {{"X-AnchorMailbox", "anna@example.com"}};
  gse.expect.header_contains = {{"Cookie", "X-BackEndOverrideCookie=EXCH03.bookingbug.local~1942002583"}};
  s.exchanges = {sub_a, sub_b, gse};
  rt::replay_server server(s);
  // The renewal after Closed and the Unsubscribes at stop: answered generically.
  server.on("GetStreamingEvents", [&](const rt::received_request&) { return held_stream({chunks[0]}); });
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });

  auto clock = std::make_shared<ews::manual_clock>();
  auto o = options_for(server, clock);
  o.mailboxes = {"bert@example.com", "anna@example.com"};
  o.events = {soap::event_type::modified};
  ews::listener l(o);
  recorder rec;
  rec.attach(l);
  l.start();
  const auto expected = event_names(all);
  BOOST_REQUIRE(!expected.empty());
  BOOST_TEST(eventually([&] { return rec.event_count() == expected.size(); }, 10s));
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  {
    std::lock_guard<std::mutex> lock(rec.mutex);
    std::map<std::string, int> per_mailbox;
    for (std::size_t i = 0; i < rec.events.size() && i < expected.size(); ++i) {
      BOOST_TEST(soap::to_string(rec.events[i].event.type) == expected[i]);
      per_mailbox[rec.events[i].mailbox]++;
      BOOST_TEST((rec.events[i].subscription_id == (rec.events[i].mailbox == "anna@example.com" ? id_a : id_b)));
    }
    BOOST_TEST(per_mailbox.size() == 2u);
  }
  // The renewal carries the cookie too.
  auto received = server.received();
  int gse_seen = 0;
  for (const auto& r : received)
    if (r.operation == "GetStreamingEvents") {
      ++gse_seen;
      BOOST_TEST(header(r, "Cookie").find("X-BackEndOverrideCookie=EXCH03.bookingbug.local~1942002583") !=
                 std::string::npos);
    }
  BOOST_TEST(gse_seen >= 2);
  l.stop();
  for (const auto& r : server.received())
    if (r.operation == "Unsubscribe")
      BOOST_TEST(header(r, "Cookie").find("X-BackEndOverrideCookie=") != std::string::npos);
  BOOST_TEST(server.count("Unsubscribe") == 2u);
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
  check_requests(server);
}

// A server that stops sending: after the heartbeat timeout (on the manual
// clock) the stream is dropped and a new one opened.
BOOST_AUTO_TEST_CASE(silent_server_gets_a_new_stream_after_the_watchdog) {
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  const std::string keep_alive = read_file(gromox_dir + "stream.chunk-01.xml");
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream({chunk_of(keep_alive)}), {gromox_id}));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream({chunk_of(keep_alive)}), {gromox_id}));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  auto o = options_for(server, clock);
  o.heartbeat_timeout = 90s;
  ews::listener l(o);
  l.start();
  BOOST_TEST(eventually([&] { return l.counters().streaming.envelopes == 1u; }, 10s));
  clock->advance(89s);
  BOOST_TEST(!server.wait_for("GetStreamingEvents", 2, 200ms));
  clock->advance(2s);
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  BOOST_TEST(l.counters().streaming.reconnects_for(soap::reconnect_cause::watchdog) == 1u);
  l.stop();
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

// The connection is reset in the middle of an envelope: the part is dropped,
// the stream reopened after the back-off, and what the server sends again is
// delivered once; nothing delivered before is repeated.
BOOST_AUTO_TEST_CASE(reset_mid_envelope_reconnects_without_duplicates_or_loss) {
  const std::string keep_alive = read_file(gromox_dir + "stream.chunk-01.xml");
  const std::string first = read_file(gromox_dir + "stream.chunk-02.xml");
  const std::string second = read_file(gromox_dir + "stream.chunk-03.xml");
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  auto torn = rt::streaming_response({chunk_of(keep_alive), chunk_of(first), chunk_of(second.substr(0, second.size() / 2))},
                                     rt::ending::reset);
  s.exchanges.push_back(exchange_of("GetStreamingEvents", torn, {gromox_id}));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream({chunk_of(second)}), {gromox_id}));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  ews::listener l(options_for(server, clock));
  recorder rec;
  rec.attach(l);
  l.start();
  BOOST_TEST(eventually([&] { return l.counters().streaming.total_reconnects() == 1u; }, 10s));
  BOOST_TEST(eventually([&] { return rec.event_count() == 3u; }, 10s));
  BOOST_TEST(l.counters().streaming.dropped_partial_envelopes == 1u);
  BOOST_REQUIRE(ews::test::timer_due_within(*clock, 1s));
  clock->advance(1s);  // the first back-off step
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  BOOST_TEST(eventually([&] { return rec.event_count() == 6u; }, 10s));
  {
    std::lock_guard<std::mutex> lock(rec.mutex);
    std::vector<std::string> expected = event_names(first + second);
    BOOST_REQUIRE_EQUAL(rec.events.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      BOOST_TEST(soap::to_string(rec.events[i].event.type) == expected[i]);
    // The second delivery's item, once.
    BOOST_TEST(rec.events[5].event.item.id ==
               "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAEAAAM=");
  }
  l.stop();
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

// gromox after a restart: the stream answers ErrorInvalidSubscription (and
// keeps repeating it); we close it, subscribe again and report a gap.
BOOST_AUTO_TEST_CASE(invalid_subscription_is_renewed_with_a_gap) {
  const std::string dir = scenarios + "gromox-invalid-subscription/";
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  std::vector<rt::chunk> dead;
  for (int i = 1; i <= 3; ++i) dead.push_back(chunk_of(read_file(dir + "stream.chunk-0" + std::to_string(i) + ".xml")));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream(dead), {gromox_id}));
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(wire_subscribe("AQAAAAYAAAA="))));
  s.exchanges.push_back(exchange_of("GetStreamingEvents",
                                    held_stream({chunk_of(read_file(gromox_dir + "stream.chunk-01.xml"))}),
                                    {"AQAAAAYAAAA="}));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  const auto before = std::chrono::system_clock::now();
  ews::listener l(options_for(server, clock));
  recorder rec;
  rec.attach(l);
  l.start();
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  BOOST_TEST(eventually([&] { return rec.gap_count() >= 1u; }, 10s));
  {
    std::lock_guard<std::mutex> lock(rec.mutex);
    BOOST_TEST(rec.gaps[0].mailbox.empty());
    BOOST_TEST(rec.gaps[0].folder_id == "inbox");
    BOOST_TEST(rec.gaps[0].reason == "ErrorInvalidSubscription");
    BOOST_TEST((rec.gaps[0].since >= before));
  }
  BOOST_TEST(server.count("Subscribe") == 2u);
  l.stop();
  // The second GetStreamingEvents never asked for the dead id.
  int n = 0;
  for (const auto& r : server.received())
    if (r.operation == "GetStreamingEvents" && ++n == 2) BOOST_TEST(r.body.find(gromox_id) == std::string::npos);
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

// 503 with Retry-After, then ErrorServerBusy with BackOffMilliseconds: each
// wait is honoured on the (manual) clock before the next attempt.
BOOST_AUTO_TEST_CASE(throttling_is_honoured) {
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", rt::http_error(503, 7s)));
  s.exchanges.push_back(
      exchange_of("GetStreamingEvents", rt::soap_response(ews::test::wire::server_busy_fault(5000), 500)));
  s.exchanges.push_back(exchange_of("GetStreamingEvents",
                                    held_stream({chunk_of(read_file(gromox_dir + "stream.chunk-01.xml"))})));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  ews::listener l(options_for(server, clock));
  recorder rec;
  rec.attach(l);
  l.start();
  BOOST_TEST(eventually([&] { return rec.error_count() == 1u; }, 10s));
  BOOST_REQUIRE(ews::test::timer_due_within(*clock, 7000ms));
  clock->advance(6900ms);
  BOOST_TEST(!server.wait_for("GetStreamingEvents", 2, 200ms));
  clock->advance(100ms);
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 10s));
  BOOST_TEST(eventually([&] { return rec.error_count() == 2u; }, 10s));
  BOOST_REQUIRE(ews::test::timer_due_within(*clock, 5000ms));
  clock->advance(4900ms);
  BOOST_TEST(!server.wait_for("GetStreamingEvents", 3, 200ms));
  clock->advance(100ms);
  BOOST_TEST(server.wait_for("GetStreamingEvents", 3, 10s));
  {
    std::lock_guard<std::mutex> lock(rec.mutex);
    BOOST_TEST(rec.errors[0].http_status == 503);
    BOOST_TEST(rec.errors[1].code_name() == "ErrorServerBusy");
  }
  BOOST_TEST(l.counters().streaming.reconnects_for(soap::reconnect_cause::throttled) == 2u);
  l.stop();
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

// 201 mailboxes: two GetStreamingEvents connections, each with its group's
// anchor and back-end cookie.
BOOST_AUTO_TEST_CASE(two_hundred_and_one_mailboxes_make_two_connections) {
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  rt::replay_server server(s);
  std::atomic<int> next{0};
  server.on("Subscribe", [&](const rt::received_request& r) {
    const std::string mailbox = ews::test::wire::between(r.body, "<t:SmtpAddress>", "</t:SmtpAddress>");
    auto resp = rt::soap_response(wire_subscribe("ID-" + mailbox + "-" + std::to_string(++next)));
    if (header(r, "Cookie").empty())
      resp.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=be-" + header(r, "X-AnchorMailbox") + "; path=/"});
    return resp;
  });
  const std::string keep_alive = read_file(gromox_dir + "stream.chunk-01.xml");
  server.on("GetStreamingEvents", [&](const rt::received_request&) { return held_stream({chunk_of(keep_alive)}); });
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  auto o = options_for(server, clock);
  for (int i = 0; i < 201; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "u%03d@example.com", i);
    o.mailboxes.push_back(name);
  }
  ews::listener l(o);
  l.start();
  BOOST_TEST(server.wait_for("GetStreamingEvents", 2, 30s));
  std::map<std::string, std::string> cookie_by_anchor;
  std::size_t ids = 0;
  for (const auto& r : server.received()) {
    if (r.operation != "GetStreamingEvents") continue;
    const std::string anchor = header(r, "X-AnchorMailbox");
    BOOST_TEST((anchor == "u000@example.com" || anchor == "u200@example.com"));
    cookie_by_anchor[anchor] = header(r, "Cookie");
    ids += ews::test::wire::subscription_ids(r.body).size();
  }
  BOOST_TEST(ids == 201u);
  BOOST_TEST(cookie_by_anchor["u000@example.com"] == "X-BackEndOverrideCookie=be-u000@example.com");
  BOOST_TEST(cookie_by_anchor["u200@example.com"] == "X-BackEndOverrideCookie=be-u200@example.com");
  BOOST_TEST(server.count("Subscribe") == 201u);
  l.stop();
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

// stop() while the server sends nothing and ignores the Unsubscribe.
BOOST_AUTO_TEST_CASE(stop_during_a_silent_stream_returns_within_two_seconds) {
  rt::replay_server server(silent_session());
  ignore_unsubscribe(server);
  auto clock = std::make_shared<ews::manual_clock>();
  ews::listener l(options_for(server, clock));
  l.start();
  BOOST_TEST(server.wait_for("GetStreamingEvents", 1, 10s));
  BOOST_TEST(eventually([&] { return l.counters().streaming.connections == 1u; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  l.stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 2s), "stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  BOOST_TEST(server.count("Unsubscribe") == 1u);
}

// Two threads stop the listener: the second returns only once it is stopped
// (here: while the first waits for an Unsubscribe that never answers).
BOOST_AUTO_TEST_CASE(a_second_stop_returns_only_once_the_listener_has_stopped) {
  rt::replay_server server(silent_session());
  ignore_unsubscribe(server);
  ews::listener l(options_for(server, std::make_shared<ews::manual_clock>()));
  l.on_item([](ews::item_outcome&&) {});
  l.start();
  BOOST_REQUIRE(eventually([&] { return l.counters().streaming.connections == 1u; }, 10s));
  std::thread first([&] { l.stop(); });
  BOOST_REQUIRE(server.wait_for("Unsubscribe", 1, 10s));  // the first stop() is under way
  l.stop();
  ews::mailbox_event e;
  e.event.type = soap::event_type::new_mail;
  e.event.item.id = "AAMkAfterStop";
  BOOST_TEST(!l.fetcher()->offer(std::move(e)));  // the fetcher, stopped last, is stopped
  first.join();
}

// A handler slower than the stream: the queue stays within its capacity, the
// stream is paused meanwhile, and every event arrives in order.
BOOST_AUTO_TEST_CASE(slow_handler_pauses_the_stream_without_loss) {
  const std::string keep_alive = read_file(gromox_dir + "stream.chunk-01.xml");
  std::vector<rt::chunk> chunks{chunk_of(keep_alive)};
  // 40 envelopes of one NewMail each, as one server burst.
  std::string burst;
  for (int i = 0; i < 40; ++i)
    burst += ews::test::wire::events(ews::test::wire::notification(
        gromox_id, ews::test::wire::new_mail_event("M" + std::to_string(i))));
  chunks.push_back(chunk_of(burst));
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream(chunks)));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  auto o = options_for(server, clock);
  o.queue_capacity = 4;
  ews::listener l(o);
  std::mutex m;
  std::vector<std::string> got;
  std::atomic<bool> gate{false};
  l.on_notification([&](const ews::mailbox_event& e) {
    eventually([&] { return gate.load(); }, 5s);  // the handler blocks until the test lets it go
    std::lock_guard<std::mutex> lock(m);
    got.push_back(e.event.item.id);
  });
  l.start();
  BOOST_TEST(eventually([&] { return l.counters().refused >= 1u; }, 10s));
  BOOST_TEST(l.counters().queue_depth <= 4u);
  gate = true;
  BOOST_TEST(eventually([&] { std::lock_guard<std::mutex> lock(m); return got.size() == 40u; }, 10s));
  auto c = l.counters();
  BOOST_TEST(c.peak_queue_depth <= 4u);
  BOOST_TEST(c.delivered == 40u);
  {
    std::lock_guard<std::mutex> lock(m);
    for (int i = 0; i < 40 && i < static_cast<int>(got.size()); ++i) BOOST_TEST(got[i] == "M" + std::to_string(i));
  }
  l.stop();
}

// delivered_through() is what a checkpoint may record: keep-alives keep
// coming, but while notifications wait for a blocked handler it stays at or
// before their arrival; once they are handled it moves on.
BOOST_AUTO_TEST_CASE(delivered_through_waits_for_queued_notifications) {
  const std::string keep_alive = read_file(gromox_dir + "stream.chunk-01.xml");
  std::vector<rt::chunk> chunks{chunk_of(keep_alive)};
  std::string burst;
  for (int i = 0; i < 10; ++i)
    burst += ews::test::wire::events(ews::test::wire::notification(
        gromox_id, ews::test::wire::new_mail_event("M" + std::to_string(i))));
  chunks.push_back(chunk_of(burst));
  for (int i = 0; i < 100; ++i) {  // 10 s of keep-alives, one every 100 ms
    auto c = chunk_of(keep_alive);
    c.after = 100ms;
    chunks.push_back(std::move(c));
  }
  rt::scenario s;
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", held_stream(chunks)));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  ews::listener l(options_for(server, std::make_shared<ews::manual_clock>()));
  BOOST_TEST(!l.delivered_through().has_value());
  std::atomic<bool> gate{false};
  std::atomic<int> handled{0};
  l.on_notification([&](const ews::mailbox_event&) {
    eventually([&] { return gate.load(); }, 10s);
    ++handled;
  });
  const auto started = std::chrono::system_clock::now();
  l.start();
  // One notification in the handler, nine queued behind it.
  BOOST_REQUIRE(eventually([&] { return l.counters().queue_depth == 9u; }, 10s));
  const auto queued_by = std::chrono::system_clock::now();
  const auto envelopes = l.counters().streaming.envelopes;
  BOOST_REQUIRE(eventually([&] { return l.counters().streaming.envelopes >= envelopes + 3; }, 10s));
  const auto held = l.delivered_through();
  BOOST_REQUIRE(held.has_value());
  BOOST_TEST((*held >= started && *held <= queued_by));  // not the keep-alives' time

  gate = true;
  BOOST_REQUIRE(eventually([&] { return handled.load() == 10; }, 10s));
  const auto handled_by = std::chrono::system_clock::now();
  BOOST_REQUIRE(eventually([&] {
    const auto t = l.delivered_through();
    return t && *t > handled_by;  // a keep-alive after the queue emptied
  }, 10s));
  l.stop();
  BOOST_TEST(l.delivered_through().has_value());
}

// 401 on the stream: one credential refresh, then a fatal error; run() throws it.
BOOST_AUTO_TEST_CASE(unauthorized_twice_is_fatal_and_run_throws) {
  class creds final : public ews::credential_provider {
   public:
    ews::status apply(soap::http_request& r, const ews::context&) override {
      r.headers.push_back({"Authorization", "Bearer tok-123"});
      return ews::ok;
    }
    bool refresh_after_unauthorized(const soap::http_response_head&, const ews::context&) override {
      return ++refreshes == 1;
    }
    std::atomic<int> refreshes{0};
  };
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(read_file(gromox_dir + "subscribe.response.xml"))));
  rt::response unauthorized;
  unauthorized.status = 401;
  unauthorized.headers.push_back({"WWW-Authenticate", "Bearer"});
  s.exchanges.push_back(exchange_of("GetStreamingEvents", unauthorized));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", unauthorized));
  rt::replay_server server(s);
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  auto o = options_for(server, clock);
  auto c = std::make_shared<creds>();
  o.credentials = c;
  std::vector<std::string> logged;
  std::mutex log_mutex;
  o.log.level = ews::log_level::trace;
  o.log.callback = [&](ews::log_level, std::string_view msg) {
    std::lock_guard<std::mutex> lock(log_mutex);
    logged.emplace_back(msg);
  };
  ews::listener l(o);
  ews::context ctx;
  bool threw = false;
  try {
    l.run(ctx.with_timeout(20s));
  } catch (const ews::error& e) {
    threw = true;
    BOOST_TEST(e.info().kind() == ews::errc::authentication);
  }
  BOOST_TEST(threw);
  BOOST_TEST(l.failed());
  BOOST_TEST(c->refreshes == 1);  // one refresh, then the second 401 is final
  std::lock_guard<std::mutex> lock(log_mutex);
  for (const auto& line : logged) BOOST_TEST(line.find("tok-123") == std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(run_returns_when_the_context_is_cancelled) {
  rt::scenario s;
  rt::replay_server server(s);
  server.on("Subscribe", [](const rt::received_request&) { return rt::soap_response(wire_subscribe("X1")); });
  server.on("GetStreamingEvents", [&](const rt::received_request&) {
    return held_stream({chunk_of(ews::test::wire::keep_alive())});
  });
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  ews::listener l(options_for(server, clock));
  ews::context ctx;
  std::thread canceller([&] {
    server.wait_for("GetStreamingEvents", 1, 10s);
    ctx.cancel();
  });
  l.run(ctx);
  canceller.join();
  BOOST_TEST(server.count("Unsubscribe") == 1u);
}

// Start and destroy, repeatedly, mid-stream: every socket is closed (the
// server sees no connection left) and every thread joined (the test ends).
BOOST_AUTO_TEST_CASE(destruction_leaves_no_socket_open) {
  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  rt::replay_server server(s);
  std::atomic<int> next{0};
  server.on("Subscribe", [&](const rt::received_request&) {
    return rt::soap_response(wire_subscribe("S" + std::to_string(++next)));
  });
  server.on("GetStreamingEvents", [&](const rt::received_request&) {
    return held_stream({chunk_of(ews::test::wire::keep_alive())});
  });
  server.on("Unsubscribe", [](const rt::received_request&) {
    return rt::soap_response(ews::test::wire::unsubscribe_response());
  });
  auto clock = std::make_shared<ews::manual_clock>();
  for (std::size_t round = 1; round <= 10; ++round) {
    auto l = std::make_unique<ews::listener>(options_for(server, clock));
    l->start();
    BOOST_TEST(server.wait_for("GetStreamingEvents", round, 10s));
    l.reset();
  }
  BOOST_TEST(server.wait_idle(10s), "connections still open: " << server.connections_open());
  BOOST_TEST(server.count("Unsubscribe") == 10u);
  auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

BOOST_AUTO_TEST_SUITE_END()
