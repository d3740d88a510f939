#pragma once
// Waiting on an ews::clock while honouring a context: the one place the poller
// sleeps, so tests drive every wait with a manual_clock.

#include <ews/clock.hpp>
#include <ews/context.hpp>
#include <ews/result.hpp>

namespace ews::detail {

/// Returns ok once `delay` has passed on `time`; errc::cancelled if `ctx` is
/// cancelled first, errc::timeout if its deadline passes first.
status wait_on_clock(clock& time, clock::duration delay, const context& ctx);

/// The error for a context that is done (cancelled or past its deadline).
error_info context_error(const context& ctx);

}  // namespace ews::detail
