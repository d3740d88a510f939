#include "measure.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace ews::bench {
namespace {

std::int64_t us_of(const timeval& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000 + t.tv_usec; }

std::int64_t status_field_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.compare(0, prefix.size(), prefix) == 0) return std::atoll(line.c_str() + prefix.size());
  return 0;
}

}  // namespace

std::int64_t process_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return us_of(ru.ru_utime) + us_of(ru.ru_stime);
}

cpu_split process_cpu_split() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {us_of(ru.ru_utime), us_of(ru.ru_stime), ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_minflt};
}

std::int64_t thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::int64_t other_process_cpu_us(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name (which may hold spaces).
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1000000 / (ticks > 0 ? ticks : 100);
}

std::int64_t rss_kib() { return status_field_kib("VmRSS"); }
std::int64_t peak_rss_kib() { return status_field_kib("VmHWM"); }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string format(const result_line& r) {
  std::string s;
  char buf[64];
  for (const auto& [k, v] : r) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    if (!s.empty()) s += ' ';
    s += k + "=" + buf;
  }
  return s;
}

result_line parse_result_line(const std::string& line) {
  result_line r;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    const auto eq = tok.find('=');
    if (eq == std::string::npos) continue;
    r[tok.substr(0, eq)] = std::atof(tok.c_str() + eq + 1);
  }
  return r;
}

double load_average() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : std::nan("");
}

}  // namespace ews::bench
