#pragma once
// The demo scenario compiled into ews-listen (samples/demo/), as a replay
// server scenario.

#include <ews/testing/scenario.hpp>

#include <string>

namespace ews::samples::demo {

/// The mailbox the demo session was recorded for.
inline const std::string mailbox = "alice@example.test";

/// Parses the embedded manifest and bodies. Throws ews::error if the build
/// embedded a broken scenario.
testing::scenario load();

}  // namespace ews::samples::demo
