#pragma once
// Private: cpprestsdk failures as ews errors, classified by error code
// (messages differ between versions; codes were measured, see
// docs/cpprestsdk-notes.md).

#include <ews/error.hpp>

#include <exception>

namespace ews::soap::detail {

/// `e` as an error. `head_received`: whether the response head had arrived
/// (an end of stream before it is a failed exchange, after it a truncated
/// body).
error_info classify_failure(std::exception_ptr e, bool head_received);

}  // namespace ews::soap::detail
