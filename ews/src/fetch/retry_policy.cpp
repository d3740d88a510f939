#include "fetch/retry_policy.hpp"

#include <algorithm>

namespace ews::detail {

failure_action classify_request_failure(const error_info& e) {
  if (e.retryable()) return failure_action::retry;
  switch (e.kind()) {
    case errc::http_status:
      return e.http_status >= 500 || e.transient ? failure_action::retry : failure_action::fail;
    // An id the builder refuses, an answer too large or unreadable: the cause
    // is (usually) one item, so isolate it instead of failing its neighbours.
    case errc::invalid_argument:
    case errc::malformed_xml:
    case errc::unexpected_response:
    case errc::response_too_large:
      return failure_action::split;
    case errc::cancelled:
    case errc::authentication:
    case errc::redirect:
    case errc::tls_failure:
    case errc::insecure_url:
      return failure_action::fail;
    default:
      return failure_action::fail;
  }
}

bool is_transient_item_error(const error_info& e) {
  return e.kind() == errc::throttled || e.transient;
}

std::chrono::milliseconds retry_delay(const fetch_retry_options& options, int attempt,
                                      const error_info& cause, std::minstd_rand& rng) {
  using std::chrono::milliseconds;
  const auto cap = std::max(options.max_delay, milliseconds(1));
  milliseconds delay = std::max(options.initial_delay, milliseconds(1));
  for (int i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  // Equal jitter: keep half, randomise the other half, so retries of many
  // clients spread out but never come back sooner than half the step.
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<long long> spread(0, delay.count() - half);
  delay = milliseconds(half + spread(rng));
  if (cause.back_off && *cause.back_off > delay) delay = *cause.back_off;
  return delay;
}

}  // namespace ews::detail
