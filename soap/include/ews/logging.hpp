#pragma once
/// @file
/// One logging callback and a level. The library never writes to stdout or
/// stderr itself, and never passes credentials to the callback: wire traces
/// (level `trace`) have `Authorization`, `Cookie` values, passwords and tokens
/// replaced by "***" before they are formatted.

#include <functional>
#include <string_view>

namespace ews {

enum class log_level { trace = 0, debug, info, warning, error, off };

std::string_view to_string(log_level level) noexcept;

/// Called from library threads; must be thread-safe and must not block long.
using log_callback = std::function<void(log_level, std::string_view message)>;

/// A callback and the lowest level it wants. Default: nothing is logged.
struct logger {
  log_callback callback;
  log_level level = log_level::off;

  bool enabled(log_level l) const noexcept { return callback && l >= level && l != log_level::off; }
  void operator()(log_level l, std::string_view message) const {
    if (enabled(l)) callback(l, message);
  }
};

}  // namespace ews
