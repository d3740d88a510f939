// The suite: every benchmark as a fresh child process (so peak RSS and CPU
// belong to one run), several runs each, medians in a markdown table that is
// printed and written to a file.
#include "benches.hpp"

#include "child_process.hpp"
#include "measure.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <sys/utsname.h>
#include <unistd.h>

#ifndef EWS_BENCH_BUILD_TYPE
#define EWS_BENCH_BUILD_TYPE "unknown"
#endif

namespace ews::bench {
namespace {

struct runs {
  std::vector<result_line> ok;  // runs that completed
  int failed = 0;

  double med(const std::string& key) const {
    std::vector<double> v;
    for (const auto& r : ok)
      if (auto it = r.find(key); it != r.end()) v.push_back(it->second);
    return median(v);
  }
  double lo(const std::string& key) const { return extreme(key, false); }
  double hi(const std::string& key) const { return extreme(key, true); }

 private:
  double extreme(const std::string& key, bool high) const {
    double x = std::nan("");
    for (const auto& r : ok)
      if (auto it = r.find(key); it != r.end())
        if (std::isnan(x) || (high ? it->second > x : it->second < x)) x = it->second;
    return x;
  }
};

// Runs `ews-bench <args>` `count` times; a run counts when it exits 0 and
// printed a result line.
runs repeat(const std::string& program, const std::vector<std::string>& args, int count,
            std::chrono::seconds limit, const std::vector<std::string>& extra_env = {}) {
  runs out;
  for (int i = 0; i < count; ++i) {
    std::cerr << "  run " << (i + 1) << "/" << count << ":";
    for (const auto& a : args) std::cerr << ' ' << a;
    std::cerr << std::endl;
    child_process child(program, args, extra_env);
    std::string last;
    while (auto line = child.read_line(limit)) last = *line;
    const int status = child.wait(std::chrono::seconds(10));
    if (status == 0 && !last.empty()) {
      out.ok.push_back(parse_result_line(last));
      std::cerr << "    " << last << std::endl;
    } else {
      ++out.failed;
      std::cerr << "    failed (status " << status << ")" << std::endl;
    }
  }
  return out;
}

std::string fmt(double v, int decimals = 1) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string spread(const runs& r, const std::string& key, int decimals = 1) {
  if (r.ok.size() < 2) return fmt(r.med(key), decimals);
  return fmt(r.med(key), decimals) + " (" + fmt(r.lo(key), decimals) + "–" + fmt(r.hi(key), decimals) + ")";
}

std::string verdict(bool met) { return met ? "met" : "**missed**"; }

std::string command_output(const std::string& command) {
  std::string out;
  if (FILE* f = ::popen(command.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    ::pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string body_label(std::size_t body) { return body == 0 ? "recorded (0.1 KB)" : fmt(body / 1024.0, 0) + " KB"; }

}  // namespace

int run_suite(const options& o) {
  const bool quick = o.has("quick");
  const std::string source = o.text("source", ".");
  const int r = static_cast<int>(o.number("runs", quick ? 1 : 3));
  const std::string out_file = o.text("out", source + "/bench/results/latest.md");
  const auto limit = std::chrono::seconds(900);
  const std::string program = o.text("program", "/proc/self/exe");
  const double load_before = load_average();
  const auto started = std::chrono::steady_clock::now();

  const std::vector<std::size_t> mail_counts = quick ? std::vector<std::size_t>{2000}
                                                     : std::vector<std::size_t>{2000, 20000};
  const std::vector<std::size_t> bodies = {0, 32 * 1024};
  const std::size_t mailboxes = quick ? 2000 : 10000;
  const std::size_t idle_s = quick ? 3 : 20;
  const std::size_t keepalive_ms = 1000;
  const std::size_t envelopes = quick ? 60 : 300;
  const std::size_t interval_ms = 20;

  auto with_source = [&](std::vector<std::string> a) {
    a.push_back("--source");
    a.push_back(source);
    return a;
  };

  std::cerr << "readers" << std::endl;
  const runs readers = repeat(program, with_source({"readers", "--rounds", quick ? "3" : "7"}), quick ? 1 : r, limit);

  std::vector<std::pair<std::pair<std::size_t, std::size_t>, runs>> pipeline;
  for (auto n : mail_counts)
    for (auto b : bodies) {
      std::cerr << "pipeline " << n << " mails, body " << b << std::endl;
      pipeline.push_back({{n, b},
                          repeat(program, with_source({"pipeline", "--mails", std::to_string(n), "--body", std::to_string(b)}),
                                 r, limit)});
    }

  // The lever found by profiling: cpprestsdk's shared pool (40 threads by
  // default) wakes a sleeping thread for nearly every task. The rows below
  // size it with soap::set_http_engine_threads, as an application would.
  const std::string engine_threads = std::to_string(o.number("engine-threads", 2));
  const std::size_t pool_mails = mail_counts.back();
  // The Boost.Beast/Asio engine (issue 9), side by side in the same run:
  // the transport's own threads, --asio-threads of them (default 1).
  const std::string asio_threads = std::to_string(o.number("asio-threads", 1));
  const std::string asio_label = "asio engine, " + asio_threads + " thread" + (asio_threads == "1" ? "" : "s");
  struct pooled_row {
    std::size_t mails;
    std::string label;  // what the row's engine is
    std::string short_label;
    std::size_t body;
    runs res;
  };
  std::vector<pooled_row> pooled;
  for (auto b : bodies) {
    std::cerr << "pipeline " << pool_mails << " mails, body " << b << ", " << engine_threads << " engine threads"
              << std::endl;
    pooled.push_back({pool_mails, engine_threads + " engine threads", engine_threads + " engine threads", b,
                      repeat(program, with_source({"pipeline", "--mails", std::to_string(pool_mails), "--body",
                                                   std::to_string(b), "--pool-threads", engine_threads}),
                             r, limit)});
  }
  // The asio rows at every N, as the default rows: the small N shows the
  // start-up share (first touches of memory) per mail.
  for (auto n : mail_counts)
    for (auto b : bodies) {
      std::cerr << "pipeline " << n << " mails, body " << b << ", " << asio_label << std::endl;
      pooled.push_back({n, asio_label, asio_label, b,
                        repeat(program, with_source({"pipeline", "--mails", std::to_string(n), "--body",
                                                     std::to_string(b), "--engine", "asio", "--pool-threads",
                                                     asio_threads}),
                               r, limit)});
    }

  // The asio rows again with jemalloc as the process's malloc (LD_PRELOAD),
  // when it is installed: how much of a mail's CPU is glibc's allocator
  // (arena trims and page faults, consolidation), which is the application's
  // choice, not the library's.
  const std::string jemalloc = o.text("jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
  const bool have_jemalloc = !jemalloc.empty() && ::access(jemalloc.c_str(), R_OK) == 0;
  if (have_jemalloc) {
    for (auto n : mail_counts)
      for (auto b : bodies) {
        std::cerr << "pipeline " << n << " mails, body " << b << ", " << asio_label << ", jemalloc" << std::endl;
        pooled.push_back({n, asio_label + ", jemalloc", asio_label + " and jemalloc", b,
                          repeat(program, with_source({"pipeline", "--mails", std::to_string(n), "--body",
                                                       std::to_string(b), "--engine", "asio", "--pool-threads",
                                                       asio_threads}),
                                 r, limit, {"LD_PRELOAD=" + jemalloc})});
      }
  }

  auto scale_run = [&](const std::string& threads, const std::string& engine) {
    std::cerr << "scale " << mailboxes << " mailboxes, " << engine << " engine threads " << threads << std::endl;
    return repeat(program, with_source({"scale", "--mailboxes", std::to_string(mailboxes), "--idle-s",
                                        std::to_string(idle_s), "--keepalive-ms", std::to_string(keepalive_ms),
                                        "--pool-threads", threads, "--engine", engine}),
                  r, limit);
  };
  const runs scale = scale_run("0", "cpprestsdk");
  const runs scale_pooled = scale_run(engine_threads, "cpprestsdk");
  const runs scale_asio = scale_run(asio_threads, "asio");

  auto latency_run = [&](const std::string& threads, const std::string& engine) {
    std::cerr << "latency, " << engine << " engine threads " << threads << std::endl;
    return repeat(program, with_source({"latency", "--envelopes", std::to_string(envelopes), "--interval-ms",
                                        std::to_string(interval_ms), "--pool-threads", threads, "--engine", engine}),
                  r, limit);
  };
  const runs latency = latency_run("0", "cpprestsdk");
  const runs latency_pooled = latency_run(engine_threads, "cpprestsdk");
  const runs latency_asio = latency_run(asio_threads, "asio");

  const double load_after = load_average();
  const double minutes =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 60.0;

  // ---- the table ----
  std::ostringstream md;
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  utsname un{};
  ::uname(&un);
  md << "# ewsstream benchmarks" << (quick ? " (quick)" : "") << "\n\n";
  md << "- when: " << when << "; commit " << command_output("git -C '" + source + "' rev-parse --short HEAD 2>/dev/null")
     << "; build " << EWS_BENCH_BUILD_TYPE << "\n";
  md << "- machine: " << cpu_model() << ", " << std::thread::hardware_concurrency() << " cores, " << un.sysname << ' '
     << un.release << "\n";
  md << "- load average (1 min): " << fmt(load_before, 2) << " before, " << fmt(load_after, 2) << " after; "
     << fmt(minutes, 1) << " minutes\n";
  md << "- every cell: median of " << r << " run(s), each a fresh process; (min–max) when there are several."
     << " Ratios are taken inside each run, then the median.\n\n";

  md << "## 1. Pipeline cost against the pugixml limit\n\n"
     << "The bench server (its own process) streams N NewMailEvents (10 per envelope: 2 notifications of 5, "
        "envelopes cut into 333–8192-byte chunks) for 10 mailboxes on one connection and answers GetItem with "
        "Exchange Online's Message form; the listener and the item fetcher (batch 50, linger 5 ms with end-of-burst sending, 4 in flight) "
        "fetch every mail. Client CPU is this process alone (user+sys, every thread); the limit is pugixml "
        "parsing the same stream envelopes and 50-item GetItem answers, in the same process after the run.\n\n";
  md << "| mails | body | mails/s | client CPU µs/mail | server CPU µs/mail | peak RSS MiB | pugixml µs/mail | "
        "ratio (target ≤ 10x) | target |\n";
  md << "|---:|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& [key, res] : pipeline) {
    const double ratio = res.med("ratio");
    md << "| " << key.first << " | " << body_label(key.second) << " | " << spread(res, "mails_per_s", 0) << " | "
       << spread(res, "cpu_us_per_mail") << " | " << fmt(res.med("server_cpu_us_per_mail")) << " | "
       << fmt(res.med("peak_rss_mib")) << " | " << fmt(res.med("limit_us_per_mail"), 2) << " | "
       << spread(res, "ratio") << "x | " << (res.ok.empty() ? "**failed**" : verdict(ratio <= 10.0))
       << (res.failed ? " (" + std::to_string(res.failed) + " failed runs)" : "") << " |\n";
  }
  for (const auto& [n, label, short_label, b, res] : pooled) {
    const double ratio = res.med("ratio");
    md << "| " << n << " | " << body_label(b) << ", **" << label << "** | "
       << spread(res, "mails_per_s", 0) << " | " << spread(res, "cpu_us_per_mail") << " | "
       << fmt(res.med("server_cpu_us_per_mail")) << " | " << fmt(res.med("peak_rss_mib")) << " | "
       << fmt(res.med("limit_us_per_mail"), 2) << " | " << spread(res, "ratio") << "x | "
       << (res.ok.empty() ? "**failed**" : verdict(ratio <= 10.0)) << " |\n";
  }
  if (!have_jemalloc)
    md << "\n(No jemalloc rows: " << jemalloc << " is not installed; `apt-get install libjemalloc2` adds them.)\n";
  md << "\nWhere the client's CPU goes (median, µs per mail: user / sys; thread wake-ups per mail; GetItem batches "
        "per 1000 mails):";
  for (const auto& [key, res] : pipeline)
    md << " " << key.first << "/" << (key.second == 0 ? "recorded" : "32 KB") << ": " << fmt(res.med("user_us_per_mail"))
       << " / " << fmt(res.med("sys_us_per_mail")) << ", " << fmt(res.med("waits_per_mail"), 2) << ", "
       << fmt(res.med("batches_per_1000_mails"), 1) << ";";
  for (const auto& [n, label, short_label, b, res] : pooled)
    md << " " << n << "/" << (b == 0 ? "recorded" : "32 KB") << " with " << short_label << ": " << fmt(res.med("user_us_per_mail")) << " / " << fmt(res.med("sys_us_per_mail")) << ", "
       << fmt(res.med("waits_per_mail"), 2) << ", " << fmt(res.med("batches_per_1000_mails"), 1) << ";";
  md << " One-time set-up (threads, the transport's trust store): "
     << fmt(pipeline.empty() ? std::nan("") : pipeline.front().second.med("setup_cpu_ms")) << " ms CPU, not charged to the mails.\n";
  md << "\nBytes per mail: stream " << (pipeline.empty() ? "n/a" : fmt(pipeline.front().second.med("stream_bytes_per_mail"), 0))
     << ", GetItem answer " << (pipeline.empty() ? "n/a" : fmt(pipeline.front().second.med("item_bytes_per_mail"), 0))
     << " (recorded body)";
  if (pipeline.size() > 1) md << " / " << fmt(pipeline[1].second.med("item_bytes_per_mail"), 0) << " (32 KB body)";
  md << ". GetItem calls per run: " << (pipeline.empty() ? "n/a" : fmt(pipeline.front().second.med("get_item_calls"), 0))
     << " for " << mail_counts.front() << " mails.\n\n";

  md << "## 2. Readers (and the splitter) against bare pugixml\n\n"
     << "CPU per envelope on the same bytes, best of rounds. `splitter_100_envelopes`: the envelope splitter framing "
        "a stream of 100 generated envelopes fed in 333–8192-byte pieces, against pugixml parsing those 100 "
        "envelopes.\n\n";
  md << "| envelope | bytes | pugixml µs | reader (splitter) µs | ratio |\n|---|---:|---:|---:|---:|\n";
  if (!readers.ok.empty()) {
    for (const auto& [k, v] : readers.ok.front()) {
      const auto dot = k.rfind(".bytes");
      if (dot == std::string::npos || dot + 6 != k.size()) continue;
      const std::string name = k.substr(0, dot);
      md << "| " << name << " | " << fmt(v, 0) << " | " << fmt(readers.med(name + ".pugixml_us"), 2) << " | "
         << fmt(readers.med(name + ".reader_us"), 2) << " | " << fmt(readers.med(name + ".ratio"), 2) << "x |\n";
    }
  }

  md << "\n## 3. Scale: mailboxes held open\n\n"
     << "One process, " << mailboxes << " mailboxes in " << (mailboxes + 199) / 200
     << " GetStreamingEvents connections of 200 subscriptions, a keep-alive envelope every " << keepalive_ms
     << " ms on every connection (Exchange sends one about every 45 s: this is 45x the real rate), idle window "
     << idle_s << " s. RSS per mailbox = growth of the process's RSS from before the listener existed.\n\n";
  md << "| mailboxes | engine threads | connections | RSS growth MiB | KiB per mailbox (target ≤ 30) | idle CPU % of a "
        "core (target < 2) | CPU µs per keep-alive | server CPU % | keep-alives/s | subscribe + connect s | stop s |\n";
  md << "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [label, sc] : {std::pair<std::string, const runs*>{"cpprestsdk default (40)", &scale},
                                  std::pair<std::string, const runs*>{"**" + engine_threads + "**", &scale_pooled},
                                  std::pair<std::string, const runs*>{"**" + asio_label + "**", &scale_asio}}) {
    const runs& x = *sc;
    md << "| " << mailboxes << " | " << label << " | " << fmt(x.med("connections"), 0) << " | "
       << fmt(x.med("rss_growth_mib")) << " | " << spread(x, "kib_per_mailbox") << " "
       << (x.ok.empty() ? "**failed**" : verdict(x.med("kib_per_mailbox") <= 30.0)) << " | "
       << spread(x, "idle_cpu_pct", 2) << " " << (x.ok.empty() ? "" : verdict(x.med("idle_cpu_pct") < 2.0)) << " | "
       << fmt(x.med("cpu_us_per_keepalive"), 0) << " | " << fmt(x.med("server_idle_cpu_pct"), 2) << " | "
       << fmt(x.med("keepalives_per_s"), 1) << " | " << fmt(x.med("ready_s")) << " | " << fmt(x.med("stop_s"), 2)
       << " |\n";
  }

  md << "\n## 4. Latency: envelope's last byte on the socket → handler has the fetched item\n\n"
     << envelopes << " envelopes of 5 NewMailEvents, one every " << interval_ms
     << " ms, each written in two pieces 1 ms apart; the server notes when the last byte was written "
        "(CLOCK_MONOTONIC) and returns it in the item's Subject. Default linger (5 ms), which with the listener's "
        "end-of-burst hand-off only bounds a batch while every call slot is busy.\n\n";
  md << "| mails | engine threads | linger ms | p50 ms | p90 ms | p99 ms (target ≤ linger + 2) | max ms | GetItem batches "
        "per 1000 mails | target |\n"
     << "|---:|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& [label, lr] : {std::pair<std::string, const runs*>{"cpprestsdk default (40)", &latency},
                                  std::pair<std::string, const runs*>{"**" + engine_threads + "**", &latency_pooled},
                                  std::pair<std::string, const runs*>{"**" + asio_label + "**", &latency_asio}}) {
    const runs& x = *lr;
    const double linger = x.med("linger_ms");
    md << "| " << fmt(x.med("samples"), 0) << " | " << label << " | " << fmt(linger, 0) << " | "
       << spread(x, "p50_ms", 2) << " | " << fmt(x.med("p90_ms"), 2) << " | " << spread(x, "p99_ms", 2) << " | "
       << fmt(x.med("max_ms"), 2) << " | " << fmt(x.med("batches_per_1000_mails"), 0) << " | "
       << (x.ok.empty() ? "**failed**" : verdict(x.med("p99_ms") <= linger + 2.0)) << " |\n";
  }

  const std::string text = md.str();
  std::cout << text;
  std::ofstream f(out_file, std::ios::binary | std::ios::trunc);
  if (f) f << text;
  if (!f) std::cerr << "ews-bench: cannot write " << out_file << "\n";
  else std::cerr << "written to " << out_file << "\n";
  return 0;
}

}  // namespace ews::bench
