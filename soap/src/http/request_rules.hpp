#pragma once
// Private: what every HTTP engine enforces the same way on a request, and
// the error for a send() whose context ended first.

#include <ews/context.hpp>
#include <ews/result.hpp>
#include <ews/soap/transport.hpp>

#include <string_view>

namespace ews::soap::detail {

/// Headers the engine writes itself (Host, Content-Length,
/// Transfer-Encoding, Connection); a caller's copy is dropped. Host in
/// particular: with a port in it, it breaks the certificate host check.
bool engine_owned_header(std::string_view name) noexcept;

/// errc::invalid_argument for a header that would split the request: an
/// empty name, a line break or NUL anywhere, a colon in the name.
status check_header(const http_header& header);

/// errc::cancelled or errc::timeout (retryable), as `ctx` ended.
error_info context_error(const context& ctx);

}  // namespace ews::soap::detail
