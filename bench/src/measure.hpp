#pragma once
// What a benchmark reads about its own process and its server's: CPU time,
// resident memory, monotonic time, and the statistics the tables report.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ews::bench {

/// user + system CPU of this whole process (every thread), in microseconds.
std::int64_t process_cpu_us();
/// The parts of process_cpu_us() and the context switches behind them.
struct cpu_split {
  std::int64_t user_us = 0;
  std::int64_t sys_us = 0;
  std::int64_t voluntary_switches = 0;    ///< waits: a thread blocked (futex, poll)
  std::int64_t involuntary_switches = 0;  ///< preemptions
  std::int64_t page_faults = 0;           ///< minor faults: first touches of memory
};
cpu_split process_cpu_split();
/// CPU of the calling thread only, in microseconds.
std::int64_t thread_cpu_us();
/// user + system CPU of another process (from /proc; 10 ms resolution).
std::int64_t other_process_cpu_us(pid_t pid);

/// VmRSS / VmHWM of this process, in KiB (0 if unreadable).
std::int64_t rss_kib();
std::int64_t peak_rss_kib();

/// Nanoseconds on the steady clock: CLOCK_MONOTONIC, so two processes on
/// one machine can compare their readings.
std::int64_t now_ns();

double median(std::vector<double> v);
/// Nearest-rank percentile, p in [0, 100].
double percentile(std::vector<double> v, double p);

/// One result line: "key=value key=value ..." (what a run prints and the
/// suite reads back).
using result_line = std::map<std::string, double>;
std::string format(const result_line& r);
result_line parse_result_line(const std::string& line);

/// The machine's 1-minute load average.
double load_average();

}  // namespace ews::bench
