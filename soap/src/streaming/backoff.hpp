#pragma once
// Capped exponential back-off with injectable jitter (private to the
// streaming code).

#include <ews/soap/subscription_manager.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>

namespace ews::soap::detail {

class backoff_policy {
 public:
  explicit backoff_policy(backoff_options o) : options_(std::move(o)) {
    if (!options_.random) {
      std::uint64_t seed = options_.seed;
      if (seed == 0) seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
      engine_.seed(seed);
    }
  }

  /// The wait before retry number `attempt` (0-based).
  std::chrono::milliseconds delay(int attempt) {
    const double initial = static_cast<double>(options_.initial.count());
    const double cap = static_cast<double>(options_.max.count());
    // pow() of a large attempt overflows to inf; min() then caps it.
    const double base = std::min(cap, initial * std::pow(options_.multiplier, std::max(0, std::min(attempt, 64))));
    const double r = std::clamp(random(), 0.0, 1.0);
    const double d = base * (1.0 - options_.jitter * r);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, d)));
  }

  std::chrono::milliseconds max_delay() const { return options_.max; }

 private:
  double random() {
    if (options_.random) return options_.random();
    std::lock_guard<std::mutex> lock(mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }

  backoff_options options_;
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

}  // namespace ews::soap::detail
