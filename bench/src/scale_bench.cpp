// Scale: M mailboxes (M / 200 GetStreamingEvents connections) held open in
// this process against the bench server, keep-alives flowing on every
// connection. Resident memory per mailbox (growth over the process before
// the listener existed, so fixed costs count against the mailboxes) and CPU
// while idle, as % of one core.
#include "benches.hpp"

#include "child_process.hpp"
#include "fetch_pipeline.hpp"
#include "measure.hpp"

#include <iostream>
#include <stdexcept>
#include <thread>

namespace ews::bench {

int run_scale(const options& o, const workload&) {
  const std::size_t mailboxes = o.number("mailboxes", 10000);
  const std::size_t per_connection = 200;
  const std::size_t connections = (mailboxes + per_connection - 1) / per_connection;
  const auto idle = std::chrono::seconds(o.number("idle-s", 20));
  const std::size_t keep_alive_ms = o.number("keepalive-ms", 1000);

  child_process server(o.text("program", "/proc/self/exe"), {"serve", "--source", o.text("source", "."), "--mode", "scale", "--keepalive-ms", std::to_string(keep_alive_ms)});
  const auto url = server.read_line(std::chrono::seconds(20));
  if (!url) throw std::runtime_error("the bench server did not start");

  // The addresses exist before the baseline: they are the application's.
  listener_options lo;
  apply_http_engine(o, lo);
  lo.url = *url;
  lo.max_subscriptions_per_connection = per_connection;
  for (std::size_t i = 0; i < mailboxes; ++i) lo.mailboxes.push_back("user" + std::to_string(i) + "@example.com");
  item_fetcher_options fo;

  const auto rss0 = rss_kib();
  const auto t0 = now_ns();
  fetch_pipeline p(lo, fo, [](item_outcome&&) {}, wiring_of(o));
  p.start();
  // Ready: every connection open and each has delivered a keep-alive.
  bool ready = false;
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(o.number("timeout-s", 600));
  while (std::chrono::steady_clock::now() < limit) {
    const auto c = p.listener_numbers().streaming;
    if (c.subscribes >= mailboxes && c.connections >= connections && c.envelopes >= connections) {
      ready = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double ready_s = static_cast<double>(now_ns() - t0) / 1e9;
  // Settle (allocators, first keep-alives everywhere), then the idle window.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto before = p.listener_numbers().streaming;
  const auto cpu0 = process_cpu_us();
  const auto server0 = other_process_cpu_us(server.pid());
  const auto w0 = now_ns();
  std::this_thread::sleep_for(idle);
  const auto cpu1 = process_cpu_us();
  const auto server1 = other_process_cpu_us(server.pid());
  const auto w1 = now_ns();
  const auto after = p.listener_numbers().streaming;
  const auto rss1 = rss_kib();

  const auto s0 = now_ns();
  p.stop();
  const double stop_s = static_cast<double>(now_ns() - s0) / 1e9;
  server.terminate();

  const double window_s = static_cast<double>(w1 - w0) / 1e9;
  result_line r;
  r["ready"] = ready ? 1 : 0;
  r["mailboxes"] = static_cast<double>(mailboxes);
  r["connections"] = static_cast<double>(after.connections);
  r["subscribes"] = static_cast<double>(after.subscribes);
  r["ready_s"] = ready_s;
  r["rss_mib"] = static_cast<double>(rss1) / 1024.0;
  r["rss_growth_mib"] = static_cast<double>(rss1 - rss0) / 1024.0;
  r["kib_per_mailbox"] = static_cast<double>(rss1 - rss0) / static_cast<double>(mailboxes);
  r["idle_cpu_pct"] = static_cast<double>(cpu1 - cpu0) / 1e6 / window_s * 100.0;
  r["server_idle_cpu_pct"] = static_cast<double>(server1 - server0) / 1e6 / window_s * 100.0;
  const auto keep_alives = static_cast<double>(after.envelopes - before.envelopes);
  r["keepalives_per_s"] = keep_alives / window_s;
  // Everything the process spent while idle, charged to the keep-alives: an
  // upper bound of what one costs.
  r["cpu_us_per_keepalive"] = keep_alives > 0 ? static_cast<double>(cpu1 - cpu0) / keep_alives : 0.0;
  r["reconnects"] = static_cast<double>(after.total_reconnects());
  r["errors"] = static_cast<double>(p.errors());
  r["stop_s"] = stop_s;
  r["keepalive_ms"] = static_cast<double>(keep_alive_ms);
  r["idle_s"] = window_s;
  std::cout << format(r) << std::endl;
  return ready ? 0 : 1;
}

}  // namespace ews::bench
