#include <ews/clock.hpp>

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <mutex>
#include <vector>

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(clocks)

BOOST_AUTO_TEST_CASE(manual_clock_runs_due_timers_in_order) {
  ews::manual_clock c;
  std::vector<int> order;
  c.schedule_after(30s, [&] { order.push_back(3); });
  c.schedule_after(10s, [&] { order.push_back(1); });
  c.schedule_after(10s, [&] { order.push_back(2); });
  c.advance(9s);
  BOOST_TEST(order.empty());
  c.advance(1s);
  BOOST_TEST((order == std::vector<int>{1, 2}));
  BOOST_TEST(c.pending() == 1u);
  c.advance(1h);
  BOOST_TEST((order == std::vector<int>{1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(manual_clock_cancel_and_chained_timers) {
  ews::manual_clock c;
  int fired = 0;
  const auto id = c.schedule_after(5s, [&] { ++fired; });
  BOOST_TEST(c.cancel(id));
  BOOST_TEST(!c.cancel(id));
  // A timer that schedules another inside the same step: both run.
  c.schedule_after(1s, [&] { c.schedule_after(1s, [&] { fired += 10; }); });
  const auto start = c.now();
  c.advance(5s);
  BOOST_TEST(fired == 10);
  BOOST_TEST((c.now() - start == 5s));
  BOOST_TEST(!c.next_deadline().has_value());
}

BOOST_AUTO_TEST_CASE(steady_clock_fires_and_cancels) {
  auto c = ews::make_steady_clock();
  std::mutex m;
  std::condition_variable cv;
  bool fired = false;
  bool cancelled_fired = false;
  const auto id = c->schedule_after(1h, [&] { cancelled_fired = true; });
  c->schedule_after(1ms, [&] {
    std::lock_guard<std::mutex> lock(m);
    fired = true;
    cv.notify_all();
  });
  BOOST_TEST(c->cancel(id));
  std::unique_lock<std::mutex> lock(m);
  BOOST_TEST(cv.wait_for(lock, 10s, [&] { return fired; }));
  BOOST_TEST(!cancelled_fired);
}

BOOST_AUTO_TEST_SUITE_END()
