#include <ews/dedupe_window.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>
#include <vector>

namespace {

std::string key(const char* id, const char* change_key) { return ews::dedupe_window::make_key(id, change_key); }

}  // namespace

BOOST_AUTO_TEST_SUITE(dedupe_window_suite)

BOOST_AUTO_TEST_CASE(remembers_versions_and_tells_duplicates) {
  ews::dedupe_window w(8);
  BOOST_TEST(w.insert("AAMkAG1", "CQAAAB1"));
  BOOST_TEST(!w.insert("AAMkAG1", "CQAAAB1"));
  BOOST_TEST(w.contains("AAMkAG1", "CQAAAB1"));
  // Another ChangeKey is another version; the id alone is a key of its own.
  BOOST_TEST(!w.contains("AAMkAG1", "CQAAAB2"));
  BOOST_TEST(w.insert("AAMkAG1", "CQAAAB2"));
  BOOST_TEST(!w.contains("AAMkAG1", ""));
  BOOST_TEST(w.insert("AAMkAG1", ""));
  BOOST_TEST(w.size() == 3u);
}

BOOST_AUTO_TEST_CASE(keys_are_unambiguous) {
  // Without the length prefix, ("ab", "c") and ("a", "bc") would collide.
  BOOST_TEST(key("ab", "c") != key("a", "bc"));
  BOOST_TEST(key("ab", "") != key("a", "b"));
  ews::dedupe_window w(4);
  BOOST_TEST(w.insert("ab", "c"));
  BOOST_TEST(w.insert("a", "bc"));
  BOOST_TEST(w.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_key_is_the_documented_digest_and_never_allocates) {
  // Saved windows outlive builds: the form is fixed. SHA-256("2:abc") begins
  // 744931702c0ccc8206b265f934ab (sha256sum agrees).
  const std::string k = key("ab", "c");
  BOOST_TEST(k.size() == 15u);
  BOOST_TEST(k.front() == '\x02');
  BOOST_TEST(k.substr(1) == "\x74\x49\x31\x70\x2c\x0c\xcc\x82\x06\xb2\x65\xf9\x34\xab");
  // Whatever the length of an Exchange id, the key stays inside the string.
  const std::string long_id(400, 'A');
  const std::string long_key = ews::dedupe_window::make_key(long_id, std::string(60, 'C'));
  BOOST_TEST(long_key.size() == 15u);
  const char* const inside = reinterpret_cast<const char*>(&long_key);
  BOOST_TEST((long_key.data() >= inside && long_key.data() < inside + sizeof long_key));
  BOOST_TEST(long_key != key("ab", "c"));
}

BOOST_AUTO_TEST_CASE(keys_made_on_many_threads_agree) {
  // Each thread hashes with a context of its own.
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) expected.push_back(ews::dedupe_window::make_key("id-" + std::to_string(i), "ck"));
  std::vector<std::vector<std::string>> got(4);
  std::vector<std::thread> threads;
  for (auto& out : got) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 200; ++i) out.push_back(ews::dedupe_window::make_key("id-" + std::to_string(i), "ck"));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : got) BOOST_TEST(out == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(keys_saved_in_the_earlier_form_are_upgraded_on_restore) {
  using ews::dedupe_window;
  BOOST_TEST(dedupe_window::upgrade_key("2:abc") == key("ab", "c"));
  BOOST_TEST(dedupe_window::upgrade_key("3:abc") == key("abc", ""));
  // The sync poller's marked changes keep their marks.
  BOOST_TEST(dedupe_window::upgrade_key("\x01" "delete 2:ab") == "\x01" "delete " + key("ab", ""));
  BOOST_TEST(dedupe_window::upgrade_key("\x01" "read=1 2:abc") == "\x01" "read=1 " + key("ab", "c"));
  // Today's keys, with a poller's mark or without, and anything unknown pass through.
  BOOST_TEST(dedupe_window::upgrade_key(key("ab", "c")) == key("ab", "c"));
  BOOST_TEST(dedupe_window::upgrade_key("\x01" "delete " + key("ab", "")) == "\x01" "delete " + key("ab", ""));
  for (const std::string odd : {"", "abc", "9:ab", ":abc", "x2:abc", "\x01" "nospace"})
    BOOST_TEST(dedupe_window::upgrade_key(odd) == odd);

  dedupe_window w(8);
  w.restore({"2:abc", key("x", "1")});
  BOOST_TEST(w.contains("ab", "c"));
  BOOST_TEST(w.contains("x", "1"));
  BOOST_TEST(!w.insert("ab", "c"));
  const std::vector<std::string> expected{key("ab", "c"), key("x", "1")};
  BOOST_TEST(w.snapshot() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(evicts_the_oldest_when_full) {
  ews::dedupe_window w(3);
  for (const char* id : {"1", "2", "3", "4", "5"}) BOOST_TEST(w.insert(id, "ck"));
  BOOST_TEST(w.size() == 3u);
  BOOST_TEST(!w.contains("1", "ck"));
  BOOST_TEST(!w.contains("2", "ck"));
  BOOST_TEST(w.contains("3", "ck"));
  BOOST_TEST(w.contains("5", "ck"));
  // A hit does not refresh (FIFO): 3 is still the next to go.
  BOOST_TEST(!w.insert("3", "ck"));
  BOOST_TEST(w.insert("6", "ck"));
  BOOST_TEST(!w.contains("3", "ck"));
  const std::vector<std::string> expected{key("4", "ck"), key("5", "ck"), key("6", "ck")};
  BOOST_TEST(w.snapshot() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(erased_keys_are_forgotten_and_the_rest_keep_their_order) {
  ews::dedupe_window w(4);
  // Full and wrapped: the ring's oldest slot is no longer slot 0.
  for (const char* id : {"1", "2", "3", "4", "5", "6"}) BOOST_TEST(w.insert(id, "ck"));
  w.erase_keys({ews::dedupe_window::make_key("4", "ck"), ews::dedupe_window::make_key("6", "ck"),
                ews::dedupe_window::make_key("never", "ck")});
  BOOST_TEST(w.size() == 2u);
  BOOST_TEST(!w.contains("4", "ck"));
  BOOST_TEST(w.insert("4", "ck"));  // no longer a duplicate
  BOOST_TEST(w.insert("7", "ck"));  // room again, nothing evicted
  BOOST_TEST(w.contains("3", "ck"));
  const std::vector<std::string> expected{key("3", "ck"), key("5", "ck"), key("4", "ck"), key("7", "ck")};
  BOOST_TEST(w.snapshot() == expected, boost::test_tools::per_element());
  // Full again: the oldest (3) goes first.
  BOOST_TEST(w.insert("8", "ck"));
  BOOST_TEST(!w.contains("3", "ck"));
  BOOST_TEST(w.size() == 4u);
}

BOOST_AUTO_TEST_CASE(memory_stays_bounded_over_many_inserts) {
  ews::dedupe_window w(1000);
  for (int i = 0; i < 100000; ++i) w.insert("item-" + std::to_string(i), "ck");
  BOOST_TEST(w.size() == 1000u);
  BOOST_TEST(w.contains("item-99999", "ck"));
  BOOST_TEST(w.contains("item-99000", "ck"));
  BOOST_TEST(!w.contains("item-98999", "ck"));
  const auto keys = w.snapshot();
  BOOST_TEST(keys.front() == ews::dedupe_window::make_key("item-99000", "ck"));
  BOOST_TEST(keys.back() == ews::dedupe_window::make_key("item-99999", "ck"));
}

BOOST_AUTO_TEST_CASE(snapshot_and_restore_round_trip) {
  ews::dedupe_window a(5);
  for (const char* id : {"a", "b", "c", "d", "e", "f", "g"}) a.insert(id, "k");
  const auto saved = a.snapshot();
  BOOST_TEST(saved.size() == 5u);

  ews::dedupe_window b(5);
  b.restore(saved);
  BOOST_TEST(b.snapshot() == saved, boost::test_tools::per_element());
  BOOST_TEST(b.contains("c", "k"));
  BOOST_TEST(!b.contains("b", "k"));
  // Restoring keeps the eviction order: "c" is still the oldest.
  b.insert("h", "k");
  BOOST_TEST(!b.contains("c", "k"));

  // Into a smaller window only the newest survive.
  ews::dedupe_window small(2);
  small.restore(saved);
  const std::vector<std::string> newest{saved[3], saved[4]};
  BOOST_TEST(small.snapshot() == newest, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(clear_and_zero_capacity) {
  ews::dedupe_window w(0);
  BOOST_TEST(w.capacity() == 1u);
  BOOST_TEST(w.insert("x", "1"));
  BOOST_TEST(w.insert("y", "1"));
  BOOST_TEST(!w.contains("x", "1"));
  w.clear();
  BOOST_TEST(w.size() == 0u);
  BOOST_TEST(w.snapshot().empty());
  BOOST_TEST(w.insert("y", "1"));
}

BOOST_AUTO_TEST_CASE(moved_window_keeps_working) {
  ews::dedupe_window a(2);
  a.insert("x", "1");
  a.insert("y", "1");
  ews::dedupe_window b(std::move(a));
  BOOST_TEST(b.contains("x", "1"));
  BOOST_TEST(b.insert("z", "1"));  // evicts x through the moved ring
  BOOST_TEST(!b.contains("x", "1"));
  BOOST_TEST(b.contains("y", "1"));
}

BOOST_AUTO_TEST_CASE(keys_move_in_from_a_key_set) {
  ews::dedupe_window w(2);
  ews::dedupe_window::key_set in_progress{ews::dedupe_window::make_key("a", "1"),
                                         ews::dedupe_window::make_key("b", "1")};
  BOOST_TEST(w.insert_key(in_progress.extract(key("a", "1"))));
  BOOST_TEST(w.contains("a", "1"));
  BOOST_TEST(in_progress.size() == 1u);
  // A version already remembered is refused and its node freed.
  BOOST_TEST(w.insert("b", "1"));
  BOOST_TEST(!w.insert_key(in_progress.extract(key("b", "1"))));
  BOOST_TEST(in_progress.empty());
  BOOST_TEST(w.size() == 2u);
  // An empty node (a key that was not there) inserts nothing.
  BOOST_TEST(!w.insert_key(in_progress.extract(key("c", "1"))));
  BOOST_TEST(w.size() == 2u);
  // Moved-in keys are evicted like the others.
  ews::dedupe_window::key_set more{ews::dedupe_window::make_key("c", "1")};
  BOOST_TEST(w.insert_key(more.extract(more.begin())));
  BOOST_TEST(!w.contains("a", "1"));
  BOOST_TEST(w.contains("c", "1"));
}

BOOST_AUTO_TEST_SUITE_END()
