// The checkpoint store: round trips, durability shape (atomic replace,
// leftovers of a crash), corruption reported as a typed error naming the
// file, the cross-process lock, and thread safety.

#include <ews/checkpoint_store.hpp>

#include "checkpoint/record_codec.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh directory under the system temp dir, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() /
           ("ews-checkpoint-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  }
  return out;
}

// Real values from tests/fixtures/wire/gromox-captures/05 and 07.
const std::string gromox_state_1 = "AgACARdACgAAAAEABgAAAAMAAAACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHgA=";
const std::string gromox_state_2 = "AgACARdAEAAAAAEAUgAAAAMAAAAAAAMAAQACAZZnEAAAAAEAUgAAAAAAAQAAAAAAHwA=";
const ews::folder_key inbox{"", "inbox"};
const ews::folder_key other{"alice@example.com",
                            "AQMkADllMTlhYmUxLTg5MTctNDI4ZS1iNDdlLTM2NTk2Y2E5ODA0MwAuAAAD1ufEotoeQ0eOxEbIe+pv2QEAt9LrVfUJtU6eouetx7gQygABEfVEYwAAAA=="};

// Runs the same contract checks on any store.
void check_round_trips(ews::checkpoint_store& store) {
  BOOST_TEST(!store.load_sync_state(inbox).value().has_value());
  store.save_sync_state(inbox, gromox_state_1).value();
  store.save_sync_state(other, gromox_state_2).value();
  BOOST_TEST(*store.load_sync_state(inbox).value() == gromox_state_1);
  BOOST_TEST(*store.load_sync_state(other).value() == gromox_state_2);
  store.save_sync_state(inbox, gromox_state_2).value();
  BOOST_TEST(*store.load_sync_state(inbox).value() == gromox_state_2);
  store.clear_sync_state(inbox).value();
  BOOST_TEST(!store.load_sync_state(inbox).value().has_value());
  store.clear_sync_state(inbox).value();  // idempotent

  BOOST_TEST(store.load_dedupe_keys("listener").value().empty());
  // Opaque keys: separators, newlines, NULs and an empty key survive.
  const std::vector<std::string> keys{"id1\x1f" "ck1", "id2\nwith newline", std::string("nul\0inside", 10), ""};
  store.save_dedupe_keys("listener", keys).value();
  store.save_dedupe_keys("sync:inbox", {"x"}).value();
  BOOST_TEST(store.load_dedupe_keys("listener").value() == keys);
  BOOST_TEST(store.load_dedupe_keys("sync:inbox").value() == std::vector<std::string>{"x"});

  const auto t1 = std::chrono::system_clock::time_point(std::chrono::seconds(1795456463));  // 2026-11-22T17:54:23Z
  const auto t2 = t1 + 19s;
  BOOST_TEST(!store.load_last_event_time(inbox).value().has_value());
  store.save_last_event_time(inbox, t2).value();
  store.save_last_event_time(inbox, t1).value();  // older: ignored
  BOOST_TEST((*store.load_last_event_time(inbox).value() == t2));
  store.save_last_event_time(other, t1).value();
  const auto all = store.list_last_event_times().value();
  BOOST_TEST_REQUIRE(all.size() == 2u);
  BOOST_TEST((all[0].folder == inbox));
  BOOST_TEST((all[0].last_event == t2));
  BOOST_TEST((all[1].folder == other));
  BOOST_TEST((all[1].last_event == t1));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_store)

BOOST_AUTO_TEST_CASE(memory_store_round_trips) {
  auto store = ews::make_memory_checkpoint_store();
  check_round_trips(*store);
}

BOOST_AUTO_TEST_CASE(file_store_round_trips_and_survives_reopen) {
  temp_dir dir;
  {
    auto store = ews::make_file_checkpoint_store((dir.path / "nested" / "ckpt").string());
    check_round_trips(*store);
  }
  auto store = ews::make_file_checkpoint_store((dir.path / "nested" / "ckpt").string());
  BOOST_TEST(*store.get()->load_sync_state(other).value() == gromox_state_2);
  BOOST_TEST(store->load_dedupe_keys("sync:inbox").value() == std::vector<std::string>{"x"});
  BOOST_TEST(store->list_last_event_times().value().size() == 2u);
  // Private data: files are readable by the owner only.
  for (const auto& f : files_with_prefix(dir.path / "nested" / "ckpt", "sync-")) {
    BOOST_TEST(((fs::status(f).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none));
  }
}

BOOST_AUTO_TEST_CASE(corrupted_file_is_a_typed_error_naming_the_file) {
  temp_dir dir;
  auto store = ews::make_file_checkpoint_store(dir.path.string());
  store->save_sync_state(inbox, gromox_state_1).value();
  const auto files = files_with_prefix(dir.path, "sync-");
  BOOST_TEST_REQUIRE(files.size() == 1u);
  std::string bytes = read_all(files[0]);
  BOOST_TEST(bytes.find(gromox_state_1) != std::string::npos);

  // One flipped character inside the SyncState.
  std::string flipped = bytes;
  flipped[flipped.find(gromox_state_1) + 5] ^= 0x01;
  write_all(files[0], flipped);
  auto loaded = store->load_sync_state(inbox);
  BOOST_TEST_REQUIRE(!loaded.has_value());
  BOOST_TEST((loaded.error().kind() == ews::errc::checkpoint_corrupt));
  BOOST_TEST(loaded.error().message.find(files[0].string()) != std::string::npos, loaded.error().message);
  BOOST_TEST(loaded.error().message.find("checksum mismatch") != std::string::npos, loaded.error().message);

  // Truncated.
  write_all(files[0], bytes.substr(0, bytes.size() - 3));
  loaded = store->load_sync_state(inbox);
  BOOST_TEST_REQUIRE(!loaded.has_value());
  BOOST_TEST((loaded.error().kind() == ews::errc::checkpoint_corrupt));
  BOOST_TEST(loaded.error().message.find("truncated") != std::string::npos, loaded.error().message);

  // Empty (e.g. a filesystem that lost the data but kept the name).
  write_all(files[0], "");
  loaded = store->load_sync_state(inbox);
  BOOST_TEST_REQUIRE(!loaded.has_value());
  BOOST_TEST((loaded.error().kind() == ews::errc::checkpoint_corrupt));

  // A future format version is not guessed at.
  std::string future = bytes;
  future.replace(future.find(" 1 "), 3, " 2 ");
  write_all(files[0], future);
  loaded = store->load_sync_state(inbox);
  BOOST_TEST_REQUIRE(!loaded.has_value());
  BOOST_TEST(loaded.error().message.find("format version 2") != std::string::npos, loaded.error().message);

  // A valid record of another folder copied over this one's file.
  store->save_sync_state(other, gromox_state_2).value();
  std::string other_bytes;
  for (const auto& f : files_with_prefix(dir.path, "sync-")) {
    if (f != files[0]) other_bytes = read_all(f);
  }
  write_all(files[0], other_bytes);
  loaded = store->load_sync_state(inbox);
  BOOST_TEST_REQUIRE(!loaded.has_value());
  BOOST_TEST((loaded.error().kind() == ews::errc::checkpoint_corrupt));

  // Saving a fresh state replaces the damaged record.
  store->save_sync_state(inbox, gromox_state_2).value();
  BOOST_TEST(*store->load_sync_state(inbox).value() == gromox_state_2);
}

BOOST_AUTO_TEST_CASE(corrupted_last_event_file_fails_the_listing) {
  temp_dir dir;
  auto store = ews::make_file_checkpoint_store(dir.path.string());
  store->save_last_event_time(inbox, std::chrono::system_clock::now()).value();
  const auto files = files_with_prefix(dir.path, "last-event-");
  BOOST_TEST_REQUIRE(files.size() == 1u);
  write_all(files[0], "garbage");
  auto listed = store->list_last_event_times();
  BOOST_TEST_REQUIRE(!listed.has_value());
  BOOST_TEST((listed.error().kind() == ews::errc::checkpoint_corrupt));
  BOOST_TEST(listed.error().message.find(files[0].string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(crash_between_write_and_rename_leaves_the_old_record) {
  temp_dir dir;
  fs::path sync_file;
  {
    auto store = ews::make_file_checkpoint_store(dir.path.string());
    store->save_sync_state(inbox, gromox_state_1).value();
    const auto files = files_with_prefix(dir.path, "sync-");
    BOOST_TEST_REQUIRE(files.size() == 1u);
    sync_file = files[0];
  }
  // What a crash after write() but before rename() leaves: the complete new
  // record, and a half-written one, under temporary names next to the file.
  const std::string new_record =
      ews::detail::encode_record({"sync", {inbox.mailbox, inbox.folder_id, gromox_state_2}});
  write_all(sync_file.string() + ".tmp-999999-1", new_record);
  write_all(sync_file.string() + ".tmp-999999-2", new_record.substr(0, new_record.size() / 2));

  auto store = ews::make_file_checkpoint_store(dir.path.string());
  BOOST_TEST(*store->load_sync_state(inbox).value() == gromox_state_1);
  // The leftovers are cleaned up on open and no temporary survives a save.
  store->save_sync_state(inbox, gromox_state_2).value();
  for (const auto& e : fs::directory_iterator(dir.path)) {
    BOOST_TEST(e.path().filename().string().find(".tmp-") == std::string::npos, e.path());
  }
  BOOST_TEST(*store->load_sync_state(inbox).value() == gromox_state_2);
}

BOOST_AUTO_TEST_CASE(second_store_on_the_same_directory_is_refused) {
  temp_dir dir;
  auto store = ews::make_file_checkpoint_store(dir.path.string());
  try {
    auto second = ews::make_file_checkpoint_store(dir.path.string());
    BOOST_FAIL("a second store opened a locked directory");
  } catch (const ews::error& e) {
    BOOST_TEST((e.info().kind() == ews::errc::io_error));
    BOOST_TEST(e.info().message.find("in use") != std::string::npos, e.info().message);
  }
  // Another process is refused too (flock is per open file, not per pid).
  const pid_t child = ::fork();
  BOOST_TEST_REQUIRE(child >= 0);
  if (child == 0) {
    int code = 0;
    try {
      auto s = ews::make_file_checkpoint_store(dir.path.string());
      code = 1;
    } catch (const ews::error& e) {
      code = e.info().kind() == ews::errc::io_error ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int wstatus = 0;
  BOOST_TEST_REQUIRE(::waitpid(child, &wstatus, 0) == child);
  BOOST_TEST(WIFEXITED(wstatus));
  BOOST_TEST(WEXITSTATUS(wstatus) == 0);

  // Released with the store.
  store.reset();
  auto reopened = ews::make_file_checkpoint_store(dir.path.string());
  BOOST_TEST(reopened != nullptr);
}

BOOST_AUTO_TEST_CASE(concurrent_writers_never_tear_a_record) {
  temp_dir dir;
  auto store = ews::make_file_checkpoint_store(dir.path.string());
  constexpr int threads = 4;
  constexpr int rounds = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const ews::folder_key mine{"user" + std::to_string(t) + "@example.com", "inbox"};
      for (int i = 0; i < rounds; ++i) {
        const std::string state = "state-" + std::to_string(t) + "-" + std::to_string(i);
        if (!store->save_sync_state(mine, state)) ++failures;
        if (!store->save_sync_state(inbox, state)) ++failures;
        auto back = store->load_sync_state(mine);
        if (!back || !*back || **back != state) ++failures;
        auto shared = store->load_sync_state(inbox);
        if (!shared || !*shared || shared->value().rfind("state-", 0) != 0) ++failures;
        if (!store->save_last_event_time(inbox, std::chrono::system_clock::time_point(std::chrono::seconds(i)))) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST((*store->load_last_event_time(inbox).value() ==
              std::chrono::system_clock::time_point(std::chrono::seconds(rounds - 1))));
}

BOOST_AUTO_TEST_CASE(codec_rejects_malformed_headers_without_crashing) {
  const std::string good = ews::detail::encode_record({"dedupe", {"w", "a", "b"}});
  BOOST_TEST(ews::detail::decode_record(good).has_value());
  // Every prefix and a few single-byte changes fail cleanly.
  for (std::size_t n = 0; n < good.size(); ++n) {
    BOOST_TEST(!ews::detail::decode_record(good.substr(0, n)).has_value());
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto r = ews::detail::decode_record(bad);
    if (r) {
      // Only a change that keeps the meaning may pass (none here should).
      BOOST_TEST(false, "byte " << i << " flipped still decodes");
    }
  }
  BOOST_TEST(!ews::detail::decode_record(std::string(1000, 'x')).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
