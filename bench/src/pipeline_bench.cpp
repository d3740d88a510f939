// Pipeline cost and its physical limit, in one process and one run:
//  1. the bench server (a child process) streams N NewMailEvents and answers
//     GetItem; the listener and item fetcher fetch every mail. This process's
//     CPU (every thread) per mail, mails per second, peak RSS.
//  2. the same bytes (stream envelopes and 50-item GetItem answers) parsed by
//     pugixml alone: CPU per mail. The ratio is the pipeline's overhead.
#include "benches.hpp"

#include "child_process.hpp"
#include "fetch_pipeline.hpp"
#include "measure.hpp"
#include "workload.hpp"

#include <pugixml.hpp>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stdexcept>

#include <dlfcn.h>

namespace ews::bench {
namespace {

struct completion {
  std::mutex mutex;
  std::condition_variable done;
  std::uint64_t fetched = 0;
  std::uint64_t other = 0;  // gone, failed, skipped
  std::int64_t last_ns = 0;
  std::uint64_t target = 0;

  void add(const item_outcome& o) {
    std::lock_guard<std::mutex> lock(mutex);
    if (o.kind == outcome_kind::fetched && o.value)
      ++fetched;
    else
      ++other;
    last_ns = now_ns();
    // Only the last outcome wakes the waiting thread: a wake-up per mail
    // would charge the harness's own context switches to the pipeline.
    if (fetched + other == target) done.notify_all();
  }
  bool wait_for(std::uint64_t n, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex);
    target = n;
    return done.wait_for(lock, limit, [&] { return fetched + other >= n; });
  }
};

// CPU microseconds pugixml alone spends on the run's bytes; also the bytes.
struct limit_cost {
  double cpu_us = 0;
  std::size_t stream_bytes = 0;
  std::size_t item_bytes = 0;
};

limit_cost pugixml_limit(const workload& w, std::uint64_t mails, std::size_t mailboxes, std::size_t body_bytes,
                         std::size_t per_notification, std::size_t per_envelope, std::size_t batch) {
  limit_cost cost;
  std::int64_t cpu = 0;
  // Each document is parsed twice and the second parse is timed: the limit
  // is pugixml on warm memory (no first-touch page faults), the strictest
  // yardstick for the pipeline.
  auto parse = [&](const std::string& text) {
    for (int pass = 0; pass < 2; ++pass) {
      pugi::xml_document doc;
      const auto t0 = thread_cpu_us();
      const bool ok = doc.load_buffer(text.data(), text.size(), pugi::parse_default, pugi::encoding_utf8);
      if (pass == 1) cpu += thread_cpu_us() - t0;
      if (!ok) throw std::runtime_error("pugixml refused a generated document");
    }
  };
  // The stream, envelope by envelope, as the server built it.
  std::uint64_t seq = 0;
  for (std::uint64_t e = 0; seq < mails; ++e) {
    std::vector<std::pair<std::string, std::string>> notes;
    for (std::size_t n = 0; n < per_envelope && seq < mails; ++n) {
      std::string events;
      for (std::size_t k = 0; k < per_notification && seq < mails; ++k) events += w.new_mail_event(seq++);
      notes.emplace_back(workload::subscription_id(1 + (e * per_envelope + n) % mailboxes), std::move(events));
    }
    const std::string envelope = w.events_envelope(notes);
    cost.stream_bytes += envelope.size();
    parse(envelope);
  }
  // The GetItem answers, `batch` items each.
  for (std::uint64_t first = 0; first < mails; first += batch) {
    std::vector<std::uint64_t> seqs;
    for (std::uint64_t s = first; s < std::min<std::uint64_t>(mails, first + batch); ++s) seqs.push_back(s);
    const std::string answer = w.get_item_response(seqs, body_bytes);
    cost.item_bytes += answer.size();
    parse(answer);
  }
  cost.cpu_us = static_cast<double>(cpu);
  return cost;
}

}  // namespace

int run_pipeline(const options& o, const workload& w) {
  const std::uint64_t mails = o.number("mails", 2000);
  const std::size_t body = o.number("body", 0);
  const std::size_t mailboxes = o.number("mailboxes", 10);
  const std::size_t per_notification = o.number("per-notification", 5);
  const std::size_t per_envelope = o.number("per-envelope", 2);

  child_process server(o.text("program", "/proc/self/exe"), {"serve", "--source", o.text("source", "."), "--mode", "pipeline", "--mails", std::to_string(mails), "--body",
                        std::to_string(body), "--per-notification", std::to_string(per_notification),
                        "--per-envelope", std::to_string(per_envelope)});
  const auto url = server.read_line(std::chrono::seconds(20));
  if (!url) throw std::runtime_error("the bench server did not start");

  listener_options lo;
  apply_http_engine(o, lo);
  lo.url = *url;
  for (std::size_t i = 0; i < mailboxes; ++i) lo.mailboxes.push_back("user" + std::to_string(i) + "@example.com");
  item_fetcher_options fo;
  fo.shape.include_body = true;
  fo.shape.body = soap::body_type::html;

  completion c;
  // Construction (threads, the transport's trust store) is a one-time cost:
  // measured separately, not charged to the mails.
  const auto build0 = process_cpu_us();
  fetch_pipeline p(lo, fo, [&](item_outcome&& x) { c.add(x); }, wiring_of(o));
  const auto build_us = process_cpu_us() - build0;
  const auto split0 = process_cpu_split();
  const auto cpu0 = process_cpu_us();
  const auto server0 = other_process_cpu_us(server.pid());
  const auto t0 = now_ns();
  p.start();
  const bool complete = c.wait_for(mails, std::chrono::seconds(o.number("timeout-s", 600)));
  const auto cpu1 = process_cpu_us();
  const auto split1 = process_cpu_split();
  const auto server1 = other_process_cpu_us(server.pid());
  const auto peak = peak_rss_kib();
  std::int64_t t1 = 0;
  std::uint64_t fetched = 0, other = 0;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    t1 = c.last_ns;
    fetched = c.fetched;
    other = c.other;
  }
  const auto fc = p.fetcher_numbers();
  const auto lc = p.listener_numbers();
  p.stop();
  server.terminate();

  // The limit: three passes, the median (the pipeline run above is one
  // process; the suite takes the median over processes).
  std::vector<double> limits;
  limit_cost lim;
  // --limit-passes 0 skips the limit (profiling the pipeline alone).
  const int passes = static_cast<int>(o.number("limit-passes", 3));
  for (int pass = 0; pass < passes; ++pass) {
    lim = pugixml_limit(w, mails, mailboxes, body, per_notification, per_envelope, fo.batch_size);
    limits.push_back(lim.cpu_us);
  }
  const double limit_us = median(limits) / static_cast<double>(mails);
  const double cpu_per_mail = static_cast<double>(cpu1 - cpu0) / static_cast<double>(mails);
  const double wall_s = static_cast<double>(t1 - t0) / 1e9;

  result_line r;
  r["complete"] = complete ? 1 : 0;
  r["mails"] = static_cast<double>(mails);
  r["body_bytes"] = static_cast<double>(body);
  r["fetched"] = static_cast<double>(fetched);
  r["not_fetched"] = static_cast<double>(other);
  r["duplicates"] = static_cast<double>(fc.duplicates);
  r["get_item_calls"] = static_cast<double>(fc.get_item_calls);
  r["largest_batch"] = static_cast<double>(fc.largest_batch);
  r["batches_per_1000_mails"] = static_cast<double>(fc.batches) * 1000.0 / static_cast<double>(mails);
  r["reconnects"] = static_cast<double>(lc.streaming.total_reconnects());
  r["errors"] = static_cast<double>(p.errors());
  r["wall_s"] = wall_s;
  r["mails_per_s"] = static_cast<double>(mails) / wall_s;
  r["cpu_us_per_mail"] = cpu_per_mail;
  const auto per_mail = [&](std::int64_t v) { return static_cast<double>(v) / static_cast<double>(mails); };
  r["user_us_per_mail"] = per_mail(split1.user_us - split0.user_us);
  r["sys_us_per_mail"] = per_mail(split1.sys_us - split0.sys_us);
  r["waits_per_mail"] = per_mail(split1.voluntary_switches - split0.voluntary_switches);
  r["preemptions_per_mail"] = per_mail(split1.involuntary_switches - split0.involuntary_switches);
  r["page_faults_per_mail"] = per_mail(split1.page_faults - split0.page_faults);
  // 1 when jemalloc is this process's malloc (LD_PRELOAD), to check a row.
  r["jemalloc"] = ::dlsym(RTLD_DEFAULT, "mallctl") != nullptr ? 1 : 0;
  r["setup_cpu_ms"] = static_cast<double>(build_us) / 1000.0;
  r["server_cpu_us_per_mail"] = static_cast<double>(server1 - server0) / static_cast<double>(mails);
  r["peak_rss_mib"] = static_cast<double>(peak) / 1024.0;
  r["limit_us_per_mail"] = limit_us;
  r["ratio"] = cpu_per_mail / limit_us;
  r["stream_bytes_per_mail"] = static_cast<double>(lim.stream_bytes) / static_cast<double>(mails);
  r["item_bytes_per_mail"] = static_cast<double>(lim.item_bytes) / static_cast<double>(mails);
  std::cout << format(r) << std::endl;
  return complete && fetched == mails ? 0 : 1;
}

}  // namespace ews::bench
