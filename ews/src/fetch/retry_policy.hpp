#pragma once
// How the item fetcher treats a failed GetItem request or item: retry later,
// split the batch, or give up. Pure functions, tested through the fetcher.

#include <ews/error.hpp>
#include <ews/item_fetcher.hpp>

#include <chrono>
#include <random>

namespace ews::detail {

enum class failure_action {
  retry,  ///< may pass later: wait and send again
  split,  ///< something in this batch cannot be sent or read: halve it
  fail,   ///< final for these ids
};

/// What to do after the whole request failed (or its answer was unreadable).
failure_action classify_request_failure(const error_info& e);

/// Whether a per-item error is worth another try (ErrorServerBusy, transient codes).
bool is_transient_item_error(const error_info& e);

/// Delay before retry `attempt` (1-based): capped exponential, upper half
/// randomised by `rng`, never below the server's back-off.
std::chrono::milliseconds retry_delay(const fetch_retry_options& options, int attempt,
                                      const error_info& cause, std::minstd_rand& rng);

}  // namespace ews::detail
