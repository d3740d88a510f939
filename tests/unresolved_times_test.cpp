// The fetcher's and the dispatcher's record of work in progress (private
// header): what checkpoints rely on to never claim more than was delivered.
#include "fetch/unresolved_times.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <vector>

namespace {

using ews::detail::unresolved_times;
using clock_type = std::chrono::system_clock;

clock_type::time_point at(int seconds) { return clock_type::time_point(std::chrono::seconds(1000 + seconds)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(unresolved_times_suite)

BOOST_AUTO_TEST_CASE(the_oldest_open_arrival_wins_whatever_the_order) {
  unresolved_times u;
  BOOST_TEST(!u.oldest().has_value());
  const auto a = u.enter(at(5));
  const auto b = u.enter(at(2));  // a gap's `since` may be older than what came before
  const auto c = u.enter(at(9));
  BOOST_TEST(u.open() == 3u);
  BOOST_TEST((u.oldest() == at(2)));
  u.leave(b);  // out of order: a is still open in front of it
  BOOST_TEST((u.oldest() == at(5)));
  u.leave(b);  // a second leave changes nothing
  BOOST_TEST(u.open() == 2u);
  u.leave(a);
  BOOST_TEST((u.oldest() == at(9)));
  u.leave(c);
  BOOST_TEST(u.open() == 0u);
  BOOST_TEST(!u.oldest().has_value());
  BOOST_TEST(u.slots() == 0u);
}

BOOST_AUTO_TEST_CASE(abandoned_work_stays_the_oldest_for_good) {
  unresolved_times u;
  u.enter(at(3));
  u.enter(at(7));
  u.abandon_all();
  BOOST_TEST(u.open() == 0u);
  BOOST_TEST((u.oldest() == at(3)));
  const auto later = u.enter(at(1));
  BOOST_TEST((u.oldest() == at(1)));
  u.leave(later);
  BOOST_TEST((u.oldest() == at(3)));
  u.leave(12345);  // never handed out
  BOOST_TEST(u.open() == 0u);
}

BOOST_AUTO_TEST_CASE(one_stuck_ticket_does_not_hold_everything_after_it) {
  // A batch waiting out a long back-off while the rest flows: memory stays
  // within twice the open work (plus a small slack), not the tickets since.
  unresolved_times u;
  const auto stuck = u.enter(at(0));
  std::size_t most_slots = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto t = u.enter(at(1));
    u.leave(t);
    most_slots = std::max(most_slots, u.slots());
  }
  BOOST_TEST(u.open() == 1u);
  BOOST_TEST(most_slots <= 2u + 64u + 1u);
  BOOST_TEST((u.oldest() == at(0)));
  // Tickets in a swept deque are still found.
  std::vector<std::uint64_t> open;
  for (int i = 0; i < 500; ++i) open.push_back(u.enter(at(2)));
  for (std::size_t i = 0; i < open.size(); i += 2) u.leave(open[i]);
  BOOST_TEST(u.open() == 1u + 250u);
  for (std::size_t i = 1; i < open.size(); i += 2) u.leave(open[i]);
  BOOST_TEST(u.open() == 1u);
  u.leave(stuck);
  BOOST_TEST(u.open() == 0u);
  BOOST_TEST(u.slots() == 0u);
  BOOST_TEST(!u.oldest().has_value());
}

BOOST_AUTO_TEST_SUITE_END()
