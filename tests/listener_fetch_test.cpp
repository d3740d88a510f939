// listener::on_item: notifications go through the item fetcher (GetItem by
// ItemId + ChangeKey, dedupe) and every one ends as exactly one outcome,
// against the replay server on 127.0.0.1 with the real transport.
#include <ews/listener.hpp>
#include <ews/testing/replay_server.hpp>

#include "schema_validator.hpp"
#include "streaming_wire.hpp"
#include "test_engine.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <mutex>

using namespace std::chrono_literals;
namespace rt = ews::testing;
namespace wire = ews::test::wire;
using ews::test::eventually;

namespace {

// Answers a GetItem for whatever ids were asked: a Message per id, except
// ids starting with "GONE", answered ErrorItemNotFound as Exchange does.
rt::response get_item_answer(const rt::received_request& request) {
  return rt::soap_response(wire::get_item_answer(request.body, [](const std::string& id) {
    return id.rfind("GONE", 0) == 0 ? std::nullopt : std::optional<std::string>("subject of " + id);
  }));
}

rt::exchange exchange_of(std::string operation, rt::response r) {
  rt::exchange e;
  e.label = operation;
  e.expect.operation = std::move(operation);
  e.respond = std::move(r);
  return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_notification_becomes_one_outcome_through_the_listener) {
  const std::string sub = "SUB-1";
  std::vector<rt::chunk> chunks(2);
  chunks[0].data = wire::events(wire::notification(
      sub, wire::new_mail_event("ITEM-A", "CK1") + wire::new_mail_event("ITEM-B", "CK1") +
               wire::new_mail_event("ITEM-A", "CK1") +  // the same version again: delivered once
               wire::new_mail_event("GONE-C", "CK1")));
  chunks[1].data = wire::keep_alive();
  auto stream = rt::streaming_response(std::move(chunks), rt::ending::hold);
  stream.hold_for = 60s;

  rt::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(exchange_of("Subscribe", rt::soap_response(wire::subscribe_response(sub))));
  s.exchanges.push_back(exchange_of("GetStreamingEvents", std::move(stream)));
  rt::replay_server server(std::move(s));
  server.on("GetItem", get_item_answer);
  server.on("Unsubscribe", [](const rt::received_request&) { return rt::soap_response(wire::unsubscribe_response()); });

  ews::listener_options o;
  o.url = server.url();
  o.transport.engine = ews::test::http_engine_under_test();
  o.clock = std::make_shared<ews::manual_clock>();  // linger and back-off never wait in real time
  o.fetch.linger = std::chrono::milliseconds(0);
  ews::listener l(o);

  std::mutex mutex;
  std::map<std::string, std::vector<ews::outcome_kind>> outcomes;
  std::map<std::string, std::string> subjects;
  l.on_item([&](ews::item_outcome&& out) {
    std::lock_guard<std::mutex> lock(mutex);
    outcomes[out.source.event.item.id].push_back(out.kind);
    if (out.value) subjects[out.source.event.item.id] = out.value->subject;
  });
  l.start();
  BOOST_TEST(l.fetcher() != nullptr);

  BOOST_TEST(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return outcomes.size() == 3;
  }, 10s));
  {
    std::lock_guard<std::mutex> lock(mutex);
    BOOST_TEST((outcomes["ITEM-A"] == std::vector<ews::outcome_kind>{ews::outcome_kind::fetched}));
    BOOST_TEST((outcomes["ITEM-B"] == std::vector<ews::outcome_kind>{ews::outcome_kind::fetched}));
    BOOST_TEST((outcomes["GONE-C"] == std::vector<ews::outcome_kind>{ews::outcome_kind::gone}));
    BOOST_TEST(subjects["ITEM-B"] == "subject of ITEM-B");
  }
  const auto c = l.counters();
  BOOST_REQUIRE(c.fetch.has_value());
  BOOST_TEST(c.fetch->fetched == 2u);
  BOOST_TEST(c.fetch->gone == 1u);
  BOOST_TEST(c.fetch->duplicates == 1u);
  BOOST_TEST(c.delivered == 3u);

  const auto t0 = std::chrono::steady_clock::now();
  l.stop();
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));

  std::size_t get_items = 0;
  for (const auto& r : server.received()) {
    if (r.operation != "GetItem") continue;
    ++get_items;
    BOOST_TEST(r.body.find("ChangeKey=\"CK1\"") != std::string::npos);  // fetched by id and ChangeKey
    BOOST_TEST(ews::test::validate_request(r.body, ews::test::schema_set::exchange_online).empty());
  }
  BOOST_TEST(get_items >= 1u);
  const auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}
