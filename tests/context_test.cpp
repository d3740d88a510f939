#include <ews/context.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

BOOST_AUTO_TEST_SUITE(contexts)

BOOST_AUTO_TEST_CASE(cancel_runs_callbacks_once) {
  ews::context ctx;
  int calls = 0;
  auto reg = ctx.on_cancel([&] { ++calls; });
  BOOST_TEST(!ctx.cancelled());
  ctx.cancel();
  ctx.cancel();
  BOOST_TEST(ctx.cancelled());
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(registration_unregisters) {
  ews::context ctx;
  int calls = 0;
  { auto reg = ctx.on_cancel([&] { ++calls; }); }
  ctx.cancel();
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(registering_on_cancelled_context_runs_at_once) {
  ews::context ctx;
  ctx.cancel();
  int calls = 0;
  auto reg = ctx.on_cancel([&] { ++calls; });
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(child_follows_parent_and_keeps_earliest_deadline) {
  ews::context parent;
  const auto soon = ews::context::clock_type::now() + std::chrono::hours(1);
  auto child = parent.with_deadline(soon);
  auto grandchild = child.with_deadline(soon + std::chrono::hours(1));
  BOOST_TEST((grandchild.deadline() == soon));
  int calls = 0;
  auto reg = grandchild.on_cancel([&] { ++calls; });
  parent.cancel();
  BOOST_TEST(child.cancelled());
  BOOST_TEST(grandchild.cancelled());
  BOOST_TEST(calls == 1);
  BOOST_TEST(!ews::context().with_timeout(std::chrono::hours(1)).done());
  BOOST_TEST(ews::context().with_timeout(std::chrono::seconds(-1)).done());
}

BOOST_AUTO_TEST_CASE(cancel_from_another_thread) {
  ews::context ctx;
  std::atomic<int> calls{0};
  auto reg = ctx.on_cancel([&] { ++calls; });
  std::thread t([ctx] { ctx.cancel(); });
  t.join();
  BOOST_TEST(calls.load() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
