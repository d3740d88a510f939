// Latency: from the moment an envelope's last byte is written to the socket
// (noted by the bench server, on CLOCK_MONOTONIC, and carried back in the
// fetched item's Subject) to the moment the handler receives the fetched
// item, with the fetcher's default linger. Envelopes are paced, each split in
// two pieces 1 ms apart, so every sample is a mail arriving on a quiet line.
#include "benches.hpp"

#include "child_process.hpp"
#include "fetch_pipeline.hpp"
#include "measure.hpp"

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stdexcept>

namespace ews::bench {

int run_latency(const options& o, const workload&) {
  const std::size_t envelopes = o.number("envelopes", 300);
  const std::size_t per_notification = o.number("per-notification", 5);
  const std::size_t interval_ms = o.number("interval-ms", 20);
  const std::size_t mails = envelopes * per_notification;

  child_process server(o.text("program", "/proc/self/exe"), {"serve", "--source", o.text("source", "."), "--mode", "latency", "--envelopes", std::to_string(envelopes), "--per-notification",
                        std::to_string(per_notification), "--interval-ms", std::to_string(interval_ms)});
  const auto url = server.read_line(std::chrono::seconds(20));
  if (!url) throw std::runtime_error("the bench server did not start");

  listener_options lo;
  apply_http_engine(o, lo);
  lo.url = *url;
  item_fetcher_options fo;  // default linger and batch size unless --linger-ms
  if (o.has("linger-ms")) fo.linger = std::chrono::milliseconds(o.number("linger-ms", 5));
  const auto linger_ms = static_cast<double>(fo.linger.count());

  std::mutex mutex;
  std::condition_variable done;
  std::vector<double> samples_ms;
  std::size_t unusable = 0;
  fetch_pipeline p(lo, fo, [&](item_outcome&& x) {
    const auto t = now_ns();
    std::lock_guard<std::mutex> lock(mutex);
    const std::string_view subject = x.value ? std::string_view(x.value->subject) : std::string_view();
    constexpr std::string_view tag = "sent-ns=";
    if (subject.substr(0, tag.size()) == tag && std::atoll(subject.data() + tag.size()) > 0)
      samples_ms.push_back(static_cast<double>(t - std::atoll(std::string(subject.substr(tag.size())).c_str())) / 1e6);
    else
      ++unusable;
    if (samples_ms.size() + unusable == mails) done.notify_all();
  }, wiring_of(o));
  p.start();
  bool complete = false;
  {
    std::unique_lock<std::mutex> lock(mutex);
    complete = done.wait_for(lock, std::chrono::seconds(o.number("timeout-s", 300)),
                             [&] { return samples_ms.size() + unusable >= mails; });
  }
  const auto fc = p.fetcher_numbers();
  p.stop();
  server.terminate();

  std::vector<double> s;
  {
    std::lock_guard<std::mutex> lock(mutex);
    s = samples_ms;
  }
  result_line r;
  r["complete"] = complete ? 1 : 0;
  r["mails"] = static_cast<double>(mails);
  r["samples"] = static_cast<double>(s.size());
  r["unusable"] = static_cast<double>(unusable);
  r["linger_ms"] = linger_ms;
  r["p50_ms"] = percentile(s, 50);
  r["p90_ms"] = percentile(s, 90);
  r["p99_ms"] = percentile(s, 99);
  r["max_ms"] = percentile(s, 100);
  r["added_p99_ms"] = percentile(s, 99) - linger_ms;
  r["batches_per_1000_mails"] = static_cast<double>(fc.batches) * 1000.0 / static_cast<double>(mails);
  r["largest_batch"] = static_cast<double>(fc.largest_batch);
  std::cout << format(r) << std::endl;
  return complete ? 0 : 1;
}

}  // namespace ews::bench
