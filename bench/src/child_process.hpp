#pragma once
// A child process (this same program with other arguments) whose stdout is
// read line by line; stopped with SIGTERM and reaped by the destructor, so no
// bench server outlives its client.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ews::bench {

class child_process {
 public:
  /// Starts `program` with `args` (argv[1..]) and this process's
  /// environment plus `extra_env` ("NAME=value", e.g. LD_PRELOAD for another
  /// malloc). Throws std::runtime_error.
  child_process(const std::string& program, const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env = {});
  /// terminate() if still running.
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  /// The next line the child wrote on stdout; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// SIGTERM, wait up to `grace`, then SIGKILL; reaps. Returns the exit
  /// status (as waitpid's) and fills the child's total CPU (us) if asked.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(3), long long* cpu_us = nullptr);
  /// Waits for the child to exit on its own (up to `timeout`, then SIGKILL); reaps.
  int wait(std::chrono::milliseconds timeout, long long* cpu_us = nullptr);

 private:
  int reap(std::chrono::milliseconds timeout, long long* cpu_us);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
};

}  // namespace ews::bench
