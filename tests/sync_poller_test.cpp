// The SyncFolderItems poller and the gap reconcile, against the replay server
// playing the sync-* scenarios (tests/fixtures/scenarios) over real HTTP.

#include <ews/checkpoint_store.hpp>
#include <ews/clock.hpp>
#include <ews/item_fetcher.hpp>
#include <ews/reconciler.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/soap/transport.hpp>
#include <ews/sync_poller.hpp>
#include <ews/testing/replay_server.hpp>

#include "sync/iso8601.hpp"

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ews::sync_change_kind;

namespace {

const std::string scenarios = std::string(EWS_TEST_DIR) + "/fixtures/scenarios/";

// The ids and states the sync-* scenarios use (gromox-shaped; see their manifests).
std::string gid(int n) {
  char two[3];
  std::snprintf(two, sizeof two, "%02d", n);
  return std::string("AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAA") + two +
         "AAAM=";
}
std::string gck(int n) {
  char two[3];
  std::snprintf(two, sizeof two, "%02d", n);
  return std::string("AQAAAKUYe2+83Ooe0DxWVwAAAAAA") + two + "g==";
}
std::string state(const std::string& k) { return "AgACARdA" + k + "AAAAEAUgAAAAMAAAAAAAMAAQACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHwA="; }
const std::string inbox_id = "AAAAAOAkrrjUqXBLg6exWUisHu4BAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAA=";
// gromox-captures/05 and 07, verbatim.
const std::string gromox_state_05 = "AgACARdACgAAAAEABgAAAAMAAAACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHgA=";
const std::string gromox_state_07 = "AgACARdAEAAAAAEAUgAAAAMAAAAAAAMAAQACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHwA=";
const std::string gromox_item_05 =
    "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=";
const std::string gromox_item_07 =
    "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAEAAAM=";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A replay server playing one scenario, and a service client pointed at it.
struct replay {
  ews::testing::replay_server server;
  std::shared_ptr<ews::soap::service_client> service;

  explicit replay(const std::string& name)
      : server(name.empty() ? ews::testing::scenario{} : ews::testing::load_scenario(scenarios + name).value()) {
    ews::soap::service_options o;
    o.url = server.url();
    o.http = ews::soap::make_http_transport();
    o.request_timeout = 10s;
    service = std::make_shared<ews::soap::service_client>(std::move(o));
  }
  void verify() const {
    const auto v = server.verify();
    BOOST_TEST(v.ok, v.report());
  }
};

struct temp_dir {
  fs::path path;
  temp_dir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("ews-sync-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// What a handler was given.
struct seen {
  sync_change_kind kind;
  std::string id;
  std::string change_key;
};

ews::sync_poller_options options_for(const replay& r, std::shared_ptr<ews::checkpoint_store> store,
                                     std::vector<seen>& out) {
  ews::sync_poller_options o;
  o.service = r.service;
  o.store = std::move(store);
  o.on_change = [&out](const ews::sync_event& e) {
    out.push_back({e.change.kind, e.change.id.id, e.change.id.change_key});
  };
  return o;
}

// Waits (bounded) until the manual clock has a timer pending, and returns how
// far in the future it is. The poller schedules it from another thread after
// an HTTP answer, so there is no event to wait on but the clock itself.
std::optional<ews::clock::duration> await_timer(ews::manual_clock& clock, std::chrono::milliseconds limit = 10s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (auto next = clock.next_deadline()) return *next - clock.now();
    std::this_thread::sleep_for(1ms);
  }
  return std::nullopt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_poller)

BOOST_AUTO_TEST_CASE(three_pages_then_done) {
  replay r("sync-three-pages");
  auto store = ews::make_memory_checkpoint_store();
  std::vector<seen> got;
  std::vector<ews::sync_event> events;
  auto o = options_for(r, store, got);
  o.max_changes_returned = 2;
  o.on_change = [&](const ews::sync_event& e) {
    got.push_back({e.change.kind, e.change.id.id, e.change.id.change_key});
    events.push_back(e);
  };
  ews::sync_poller poller(std::move(o));
  const auto result = poller.run_once(ews::context{});

  BOOST_TEST(result.pages == 3u);
  BOOST_TEST(result.changes == 6u);
  BOOST_TEST(result.delivered == 6u);
  BOOST_TEST(result.duplicates == 0u);
  BOOST_TEST(result.complete);
  BOOST_TEST(!result.sync_state_reset);
  BOOST_TEST(result.sync_state == state("P3"));
  BOOST_TEST(*store->load_sync_state({"", "inbox"}).value() == state("P3"));

  BOOST_TEST_REQUIRE(got.size() == 6u);
  BOOST_TEST((got[0].kind == sync_change_kind::create));
  BOOST_TEST(got[0].id == gid(1));
  BOOST_TEST(got[0].change_key == gck(1));
  BOOST_TEST((got[1].kind == sync_change_kind::create));
  BOOST_TEST(got[1].id == gid(2));
  BOOST_TEST((got[2].kind == sync_change_kind::update));
  BOOST_TEST(got[2].id == gid(1));
  BOOST_TEST(got[2].change_key == gck(11));
  BOOST_TEST((got[3].kind == sync_change_kind::read_flag_change));
  BOOST_TEST(got[3].id == gid(2));
  BOOST_TEST((got[4].kind == sync_change_kind::create));
  BOOST_TEST(got[4].id == gid(3));
  BOOST_TEST((got[5].kind == sync_change_kind::remove));
  BOOST_TEST(got[5].id == gid(2));
  BOOST_TEST(got[5].change_key.empty());

  // The item fields of the default sync shape arrive with the change.
  BOOST_TEST(events[0].mailbox.empty());
  BOOST_TEST(events[0].folder_id == "inbox");
  BOOST_TEST_REQUIRE(events[0].change.value.has_value());
  BOOST_TEST(events[0].change.value->subject == "Quarterly report");
  BOOST_TEST(events[0].change.value->parent_folder_id == inbox_id);
  BOOST_TEST(events[0].change.value->date_time_received == "2026-11-22T17:54:23Z");
  BOOST_TEST_REQUIRE(events[0].change.value->from.has_value());
  BOOST_TEST(events[0].change.value->from->email == "sender@example.com");
  BOOST_TEST(events[2].change.value->subject == "Quarterly report (v2)");
  BOOST_TEST((events[3].change.is_read == std::optional<bool>(true)));
  BOOST_TEST(std::string(ews::to_string(events[3].change.kind)) == "read_flag");
  BOOST_TEST(std::string(ews::to_string(events[5].change.kind)) == "delete");
  r.verify();
}

BOOST_AUTO_TEST_CASE(restart_resumes_from_the_stored_state) {
  replay r("sync-three-pages");
  temp_dir dir;
  std::vector<seen> first, second;
  {
    auto store = ews::make_file_checkpoint_store(dir.path.string());
    auto o = options_for(r, store, first);
    o.max_changes_returned = 2;
    o.max_pages = 1;  // the process stops after page one
    ews::sync_poller poller(std::move(o));
    const auto result = poller.run_once(ews::context{});
    BOOST_TEST(result.pages == 1u);
    BOOST_TEST(!result.complete);
    BOOST_TEST(result.sync_state == state("P1"));
  }
  BOOST_TEST(first.size() == 2u);
  {
    // A new process: a new store object on the same directory, a new poller.
    auto store = ews::make_file_checkpoint_store(dir.path.string());
    auto o = options_for(r, store, second);
    o.max_changes_returned = 2;
    ews::sync_poller poller(std::move(o));
    const auto result = poller.run_once(ews::context{});
    BOOST_TEST(result.pages == 2u);
    BOOST_TEST(result.complete);
    BOOST_TEST(result.sync_state == state("P3"));
  }
  // Page two's request carried page one's state (checked by the scenario),
  // and page one's creates were not handed over again.
  BOOST_TEST_REQUIRE(second.size() == 4u);
  for (const auto& s : second) BOOST_TEST(!(s.kind == sync_change_kind::create && (s.id == gid(1) || s.id == gid(2))));
  BOOST_TEST((second[0].kind == sync_change_kind::update));
  BOOST_TEST(r.server.count("SyncFolderItems") == 3u);
  r.verify();
}

BOOST_AUTO_TEST_CASE(invalid_sync_state_restarts_from_empty_and_is_reported) {
  replay r("sync-invalid-state");
  auto store = ews::make_memory_checkpoint_store();
  // An Exchange Online SyncState (garethp APITest.testListItemChanges.03).
  const std::string stale =
      read_file(std::string(EWS_TEST_DIR) +
                "/fixtures/wire/garethp-php-ews/extracted/APITest.testListItemChanges.03-response-200.xml");
  const auto begin = stale.find("<m:SyncState>") + 13;
  const std::string stale_state = stale.substr(begin, stale.find("</m:SyncState>") - begin);
  store->save_sync_state({"", "inbox"}, stale_state).value();

  std::vector<seen> got;
  std::vector<ews::error_info> reports;
  auto o = options_for(r, store, got);
  o.on_error = [&](const ews::error_info& e) { reports.push_back(e); };
  ews::sync_poller poller(std::move(o));
  const auto result = poller.run_once(ews::context{});

  BOOST_TEST(result.sync_state_reset);
  BOOST_TEST(result.complete);
  BOOST_TEST(result.pages == 1u);
  BOOST_TEST_REQUIRE(reports.size() == 1u);
  BOOST_TEST((reports[0].ews_code == std::optional<ews::response_code>(ews::response_code::ErrorInvalidSyncStateData)));
  BOOST_TEST(reports[0].message.find("from the start") != std::string::npos, reports[0].message);
  // gromox's real initial page: one create.
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].id == gromox_item_05);
  BOOST_TEST(got[0].change_key == "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg==");
  BOOST_TEST(*store->load_sync_state({"", "inbox"}).value() == gromox_state_05);
  r.verify();
}

BOOST_AUTO_TEST_CASE(corrupted_checkpoint_is_a_typed_error_naming_the_file) {
  replay r("");
  r.server.forbid("SyncFolderItems");
  temp_dir dir;
  auto store = ews::make_file_checkpoint_store(dir.path.string());
  store->save_sync_state({"", "inbox"}, gromox_state_05).value();
  fs::path file;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    if (e.path().filename().string().rfind("sync-", 0) == 0) file = e.path();
  }
  BOOST_TEST_REQUIRE(!file.empty());
  std::string bytes = read_file(file.string());
  bytes[bytes.size() - 10] ^= 0x04;  // one bit of the SyncState
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

  std::vector<seen> got;
  ews::sync_poller poller(options_for(r, store, got));
  try {
    poller.run_once(ews::context{});
    BOOST_FAIL("run_once accepted a damaged checkpoint");
  } catch (const ews::error& e) {
    BOOST_TEST((e.info().kind() == ews::errc::checkpoint_corrupt));
    BOOST_TEST(e.info().message.find(file.string()) != std::string::npos, e.info().message);
  }
  // Not silently reset: nothing was asked of the server.
  BOOST_TEST(r.server.count("SyncFolderItems") == 0u);
  BOOST_TEST(got.empty());
  r.verify();
}

BOOST_AUTO_TEST_CASE(kill_in_the_middle_of_a_page_redelivers_the_page_deduplicated) {
  replay r("sync-kill-mid-page");
  temp_dir dir;
  std::vector<std::string> accepted;  // what the application took, across both runs
  std::size_t calls = 0;
  {
    auto store = ews::make_file_checkpoint_store(dir.path.string());
    std::vector<seen> unused;
    auto o = options_for(r, store, unused);
    o.on_change = [&](const ews::sync_event& e) {
      if (++calls == 2) throw std::runtime_error("process killed");  // dies while handling change two
      accepted.push_back(e.change.id.id);
    };
    ews::sync_poller poller(std::move(o));
    try {
      poller.run_once(ews::context{});
      BOOST_FAIL("run_once hid the handler's failure");
    } catch (const ews::error& e) {
      BOOST_TEST((e.info().kind() == ews::errc::handler_failed));
      BOOST_TEST(e.info().message.find("process killed") != std::string::npos);
    }
    // The page's SyncState was not saved: its changes are still owed.
    BOOST_TEST(!store->load_sync_state({"", "inbox"}).value().has_value());
  }
  std::size_t second_run_calls = 0;
  {
    auto store = ews::make_file_checkpoint_store(dir.path.string());
    std::vector<seen> unused;
    auto o = options_for(r, store, unused);
    o.on_change = [&](const ews::sync_event& e) {
      ++second_run_calls;
      accepted.push_back(e.change.id.id);
    };
    ews::sync_poller poller(std::move(o));
    const auto result = poller.run_once(ews::context{});
    // The server sent the whole page again (at-least-once)...
    BOOST_TEST(result.changes == 3u);
    // ...and the change handed over before the kill was held back.
    BOOST_TEST(result.duplicates == 1u);
    BOOST_TEST(result.delivered == 2u);
    BOOST_TEST(*store->load_sync_state({"", "inbox"}).value() == state("K1"));
  }
  BOOST_TEST(second_run_calls == 2u);
  BOOST_TEST(accepted == (std::vector<std::string>{gid(21), gid(22), gid(23)}));
  r.verify();
}

BOOST_AUTO_TEST_CASE(throttling_waits_as_long_as_the_server_asks_on_the_clock) {
  replay r("sync-throttled");
  auto clock = std::make_shared<ews::manual_clock>();
  std::vector<seen> got;
  auto o = options_for(r, ews::make_memory_checkpoint_store(), got);
  o.time = clock;
  ews::sync_poller poller(std::move(o));
  auto run = std::async(std::launch::async, [&] { return poller.run_once(ews::context{}); });

  // 503 with Retry-After: 2.
  const auto first = await_timer(*clock);
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(*first).count() >= 2000);
  BOOST_TEST(r.server.count("SyncFolderItems") == 1u);  // nothing more before the wait is over
  clock->advance(*first);
  BOOST_TEST_REQUIRE(r.server.wait_for("SyncFolderItems", 2, 10s));
  // ErrorServerBusy with BackOffMilliseconds 1500.
  const auto second = await_timer(*clock);
  BOOST_TEST_REQUIRE(second.has_value());
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(*second).count() >= 1500);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(*second).count() <= 60000);
  clock->advance(*second);

  BOOST_TEST_REQUIRE((run.wait_for(10s) == std::future_status::ready));
  const auto result = run.get();
  BOOST_TEST(result.retries == 2u);
  BOOST_TEST(result.pages == 1u);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].id == gromox_item_05);
  r.verify();
}

BOOST_AUTO_TEST_CASE(polling_loop_runs_every_interval_until_cancelled) {
  replay r("sync-polling-loop");
  auto clock = std::make_shared<ews::manual_clock>();
  auto store = ews::make_memory_checkpoint_store();
  std::vector<std::string> ids;
  std::mutex mutex;
  ews::sync_poller_options o;
  o.service = r.service;
  o.store = store;
  o.time = clock;
  o.interval = 30s;
  o.on_change = [&](const ews::sync_event& e) {
    std::lock_guard<std::mutex> lock(mutex);
    ids.push_back(e.change.id.id);
  };
  ews::sync_poller poller(std::move(o));
  ews::context ctx;
  auto loop = std::async(std::launch::async, [&] { poller.run(ctx); });

  const auto first_wait = await_timer(*clock);
  BOOST_TEST_REQUIRE(first_wait.has_value());
  BOOST_TEST((*first_wait == ews::clock::duration(30s)));
  BOOST_TEST(r.server.count("SyncFolderItems") == 1u);
  clock->advance(*first_wait);
  BOOST_TEST_REQUIRE(r.server.wait_for_responses("SyncFolderItems", 2, 10s));
  const auto second_wait = await_timer(*clock);
  BOOST_TEST_REQUIRE(second_wait.has_value());
  ctx.cancel();
  BOOST_TEST_REQUIRE((loop.wait_for(10s) == std::future_status::ready));
  loop.get();

  BOOST_TEST(r.server.count("SyncFolderItems") == 2u);
  BOOST_TEST(ids == (std::vector<std::string>{gromox_item_05, gromox_item_07}));
  BOOST_TEST(*store->load_sync_state({"", "inbox"}).value() == gromox_state_07);
  r.verify();
}

BOOST_AUTO_TEST_CASE(polling_loop_reports_a_failed_run_and_carries_on) {
  replay r("");
  // ErrorAccessDenied (retrying cannot help), then gromox's real page.
  std::string denied = read_file(scenarios + "sync-invalid-state/01-invalid-sync-state.response.xml");
  denied.replace(denied.find("ErrorInvalidSyncStateData"), 25, "ErrorAccessDenied");
  ews::testing::exchange refused;
  refused.expect.operation = "SyncFolderItems";
  refused.respond = ews::testing::soap_response(denied);
  r.server.add(refused);
  ews::testing::exchange served;
  served.expect.operation = "SyncFolderItems";
  served.expect.body_excludes = {"SyncState"};
  served.respond = ews::testing::soap_response(read_file(scenarios + "sync-invalid-state/02-initial.response.xml"));
  r.server.add(served);

  auto clock = std::make_shared<ews::manual_clock>();
  std::mutex mutex;
  std::vector<std::string> ids;
  std::vector<ews::error_info> reports;
  ews::sync_poller_options o;
  o.service = r.service;
  o.time = clock;
  o.interval = 5s;
  o.on_change = [&](const ews::sync_event& e) {
    std::lock_guard<std::mutex> lock(mutex);
    ids.push_back(e.change.id.id);
  };
  o.on_error = [&](const ews::error_info& e) {
    std::lock_guard<std::mutex> lock(mutex);
    reports.push_back(e);
  };
  ews::sync_poller poller(std::move(o));
  ews::context ctx;
  auto loop = std::async(std::launch::async, [&] { poller.run(ctx); });

  const auto wait = await_timer(*clock);
  BOOST_TEST_REQUIRE(wait.has_value());
  BOOST_TEST((*wait == ews::clock::duration(5s)));  // the interval, no retry storm
  {
    std::lock_guard<std::mutex> lock(mutex);
    BOOST_TEST_REQUIRE(reports.size() == 1u);
    BOOST_TEST(reports[0].code_name() == "ErrorAccessDenied");
    BOOST_TEST(ids.empty());
  }
  clock->advance(*wait);
  BOOST_TEST_REQUIRE(r.server.wait_for_responses("SyncFolderItems", 2, 10s));
  BOOST_TEST_REQUIRE(await_timer(*clock).has_value());
  ctx.cancel();
  BOOST_TEST_REQUIRE((loop.wait_for(10s) == std::future_status::ready));
  loop.get();
  BOOST_TEST(ids == std::vector<std::string>{gromox_item_05});
  BOOST_TEST(reports.size() == 1u);
  r.verify();
}

BOOST_AUTO_TEST_CASE(a_page_that_makes_no_progress_is_an_error_not_a_loop) {
  replay r("");
  const std::string page = read_file(scenarios + "sync-three-pages/01-page.response.xml");
  // "More follows" with the same state and no changes: asking again would
  // get the same answer for ever.
  const auto changes_begin = page.find("<m:Changes>");
  const auto changes_end = page.find("</m:Changes>") + 12;
  std::string stuck = page.substr(0, changes_begin) + "<m:Changes/>" + page.substr(changes_end);
  ews::testing::exchange e;
  e.expect.operation = "SyncFolderItems";
  e.respond = ews::testing::soap_response(stuck);
  r.server.add(e);
  std::vector<seen> got;
  ews::sync_poller poller(options_for(r, ews::make_memory_checkpoint_store(), got));
  try {
    poller.run_once(ews::context{});
    BOOST_FAIL("no error");
  } catch (const ews::error& err) {
    BOOST_TEST((err.info().kind() == ews::errc::unexpected_response));
  }
  BOOST_TEST(r.server.count("SyncFolderItems") == 1u);
  r.verify();
}

BOOST_AUTO_TEST_CASE(options_are_checked) {
  ews::soap::service_options so;
  so.url = "http://127.0.0.1:9/EWS/Exchange.asmx";  // never called
  so.http = ews::soap::make_http_transport();
  auto service = std::make_shared<ews::soap::service_client>(std::move(so));
  const auto kind_of = [](ews::sync_poller_options o) {
    try {
      ews::sync_poller p(std::move(o));
    } catch (const ews::error& e) {
      return e.info().kind();
    }
    return ews::errc{};
  };
  ews::sync_poller_options good;
  good.service = service;
  good.on_change = [](const ews::sync_event&) {};
  BOOST_TEST((kind_of(good) == ews::errc{}));
  auto o = good;
  o.max_changes_returned = 0;
  BOOST_TEST((kind_of(o) == ews::errc::invalid_argument));
  o.max_changes_returned = 513;
  BOOST_TEST((kind_of(o) == ews::errc::invalid_argument));
  o = good;
  o.on_change = nullptr;
  BOOST_TEST((kind_of(o) == ews::errc::invalid_argument));
  o = good;
  o.service = nullptr;
  BOOST_TEST((kind_of(o) == ews::errc::invalid_argument));
  o = good;
  o.shape.additional_properties.push_back("item:NoSuchField");
  BOOST_TEST((kind_of(o) == ews::errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(iso8601_reader) {
  using ews::detail::parse_iso8601;
  const auto t = parse_iso8601("2026-11-22T17:54:23Z");
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(ews::to_iso8601(*t) == "2026-11-22T17:54:23Z");
  BOOST_TEST((parse_iso8601("2026-11-22T18:54:23+01:00") == t));
  BOOST_TEST((parse_iso8601("2026-11-22T17:54:23") == t));
  BOOST_TEST((*parse_iso8601("2026-11-22T17:54:23.500Z") - *t == std::chrono::milliseconds(500)));
  BOOST_TEST(ews::to_iso8601(*parse_iso8601("2020-02-29T00:00:00Z")) == "2020-02-29T00:00:00Z");
  BOOST_TEST(!parse_iso8601("").has_value());
  BOOST_TEST(!parse_iso8601("2026-13-22T17:54:23Z").has_value());
  BOOST_TEST(!parse_iso8601("2026-11-22 17:54:23Z").has_value());
  BOOST_TEST(!parse_iso8601("2026-11-22T17:54:23Zjunk").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// ---- reconcile ----------------------------------------------------------------

namespace {

// GetItem answers built from the ids asked (a gromox-shaped Message each).
ews::testing::response get_item_answer(const ews::testing::received_request& request) {
  static const std::regex id_re(R"re(<t:ItemId Id="([^"]+)"(?: ChangeKey="([^"]*)")?)re");
  std::string items;
  for (std::sregex_iterator it(request.body.begin(), request.body.end(), id_re), end; it != end; ++it) {
    const std::string id = (*it)[1];
    const std::string ck = (*it)[2].matched ? std::string((*it)[2]) : "CK-" + id.substr(id.size() - 8);
    items += "<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Items>"
             "<t:Message><t:ItemId Id=\"" + id + "\" ChangeKey=\"" + ck + "\"/>"
             "<t:ItemClass>IPM.Note</t:ItemClass><t:Subject>fetched</t:Subject>"
             "<t:DateTimeReceived>2026-11-22T17:58:10Z</t:DateTimeReceived><t:Size>2778</t:Size>"
             "</t:Message></m:Items></m:GetItemResponseMessage>";
  }
  return ews::testing::soap_response(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<SOAP:Envelope xmlns:SOAP=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP:Body>"
      "<m:GetItemResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
      "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>" +
      items + "</m:ResponseMessages></m:GetItemResponse></SOAP:Body></SOAP:Envelope>");
}

// Outcomes as the fetcher hands them to the application.
struct outcome_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ews::item_outcome> outcomes;

  void add(ews::item_outcome&& o) {
    std::lock_guard<std::mutex> lock(mutex);
    outcomes.push_back(std::move(o));
    changed.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, limit, [&] { return outcomes.size() >= n; });
  }
  std::vector<std::string> ids() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::string> out;
    for (const auto& o : outcomes) out.push_back(o.value ? o.value->id.id : "(" + o.source.event.item.id + ")");
    return out;
  }
};

ews::gap make_gap(std::string mailbox, const char* since) {
  return {std::move(mailbox), "inbox", *ews::detail::parse_iso8601(since), "ErrorSubscriptionNotFound"};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reconcile)

BOOST_AUTO_TEST_CASE(gap_reconcile_delivers_items_created_during_the_gap_once) {
  replay r("sync-gap-reconcile");
  r.server.on("GetItem", get_item_answer);
  auto store = ews::make_memory_checkpoint_store();
  // The folder was reconciled before: the stored state of that pass.
  store->save_sync_state({"alice@example.com", "inbox"}, state("F1")).value();

  outcome_log log;
  ews::item_fetcher_options fo;
  fo.service = r.service;
  fo.on_outcome = [&](ews::item_outcome&& o) { log.add(std::move(o)); };
  ews::item_fetcher fetcher(std::move(fo));

  // Before the gap the stream delivered item 31.
  ews::mailbox_event streamed;
  streamed.mailbox = "alice@example.com";
  streamed.subscription_id = "subscription-1";
  streamed.event.type = ews::event_type::new_mail;
  streamed.event.item = {gid(31), gck(31)};
  streamed.event.parent_folder_id = inbox_id;
  BOOST_TEST_REQUIRE(fetcher.offer(std::move(streamed)));
  BOOST_TEST_REQUIRE(log.wait_for(1));

  ews::reconcile_options ro;
  ro.service = r.service;
  ro.store = store;
  ro.events = {ews::event_type::new_mail};
  ro.sink = [&](ews::mailbox_event&& e) { return fetcher.offer(std::move(e)); };
  std::size_t drains = 0;
  ro.drain = [&] {
    ++drains;
    return fetcher.drain(10s);
  };
  ews::reconciler reconciler(std::move(ro));

  // The subscription was lost at 17:57:30; items 32 and 33 arrived meanwhile.
  const auto first = reconciler.reconcile(make_gap("alice@example.com", "2026-11-22T17:57:30Z"), ews::context{});
  BOOST_TEST(first.changes == 3u);
  BOOST_TEST(first.delivered == 3u);  // all handed on; the fetcher knows item 31
  BOOST_TEST(first.filtered == 0u);   // 31 is inside the clock-skew slack
  BOOST_TEST(drains == 1u);           // the page was fetched before its state was saved
  BOOST_TEST(log.ids().size() == 3u);

  // A later gap finds nothing new.
  const auto second = reconciler.reconcile(make_gap("alice@example.com", "2026-11-22T18:10:00Z"), ews::context{});
  BOOST_TEST(second.changes == 0u);
  BOOST_TEST(second.delivered == 0u);
  BOOST_TEST_REQUIRE(fetcher.drain(10s));

  BOOST_TEST(log.ids() == (std::vector<std::string>{gid(31), gid(32), gid(33)}));
  {
    std::lock_guard<std::mutex> lock(log.mutex);
    for (const auto& o : log.outcomes) {
      BOOST_TEST((o.kind == ews::outcome_kind::fetched));
      BOOST_TEST(o.source.mailbox == "alice@example.com");
      BOOST_TEST((o.source.event.type == ews::event_type::new_mail));
      BOOST_TEST(o.source.event.parent_folder_id == inbox_id);
    }
  }
  const auto counters = fetcher.counters();
  BOOST_TEST(counters.fetched == 3u);
  BOOST_TEST(counters.duplicates == 1u);
  BOOST_TEST(*store->load_sync_state({"alice@example.com", "inbox"}).value() == state("G2"));
  fetcher.stop();
  r.verify();
}

BOOST_AUTO_TEST_CASE(first_reconcile_of_a_folder_hands_on_only_what_arrived_since_the_gap) {
  replay r("sync-reconcile-first-pass");
  auto store = ews::make_memory_checkpoint_store();
  std::vector<ews::mailbox_event> offered;
  int refusals = 1;  // the sink is full once: the event is offered again
  ews::reconcile_options ro;
  ro.service = r.service;
  ro.store = store;
  ro.events = {ews::event_type::created, ews::event_type::modified};
  ro.sink = [&](ews::mailbox_event&& e) {
    if (refusals-- > 0) return false;
    offered.push_back(std::move(e));
    return true;
  };
  ews::reconciler reconciler(std::move(ro));
  const auto result = reconciler.reconcile(make_gap("", "2026-11-22T17:58:00Z"), ews::context{});
  BOOST_TEST(result.changes == 3u);
  BOOST_TEST(result.filtered == 2u);  // last week's and this morning's mail
  BOOST_TEST(result.delivered == 1u);
  BOOST_TEST_REQUIRE(offered.size() == 1u);
  BOOST_TEST(offered[0].mailbox.empty());
  BOOST_TEST((offered[0].event.type == ews::event_type::created));
  BOOST_TEST(offered[0].event.item.id == gid(43));
  BOOST_TEST(offered[0].event.item.change_key == gck(43));
  BOOST_TEST(offered[0].event.parent_folder_id == inbox_id);
  BOOST_TEST(*store->load_sync_state({"", "inbox"}).value() == state("Q1"));
  r.verify();
}

BOOST_AUTO_TEST_SUITE_END()
