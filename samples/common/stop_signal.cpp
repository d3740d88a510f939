#include "stop_signal.hpp"

#include <pthread.h>
#include <signal.h>

namespace ews::samples {
namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

stop_signal::stop_signal(std::function<void(const char*)> on_signal) : on_signal_(std::move(on_signal)) {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::thread([this, set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (quitting_.load()) return;
      if (on_signal_) on_signal_(sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
  });
}

stop_signal::~stop_signal() {
  quitting_.store(true);
  // The waiter is the only thread that accepts SIGTERM (it is blocked
  // everywhere and pending signals go to a sigwait()ing thread), so this
  // wakes it.
  pthread_kill(waiter_.native_handle(), SIGTERM);
  waiter_.join();
}

}  // namespace ews::samples
