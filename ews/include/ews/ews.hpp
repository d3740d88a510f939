#pragma once
/// @file
/// The ewsstream public API in one include.

#include <ews/error.hpp>
#include <ews/version.hpp>

namespace ews {

/// The library version as built ("0.1.0"); may differ from EWS_VERSION_STRING
/// when an application was compiled against other headers.
const char* library_version() noexcept;

}  // namespace ews
