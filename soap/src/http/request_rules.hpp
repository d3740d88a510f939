#pragma once
// Private: what every HTTP engine enforces the same way on a request, and
// the error for a send() whose context ended first.

#include <ews/context.hpp>
#include <ews/result.hpp>
#include <ews/soap/transport.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ews::soap::detail {

/// Headers the engine writes itself (Host, Content-Length,
/// Transfer-Encoding, Connection, Content-Type); a caller's header line is
/// dropped (a caller's Content-Type still counts: body_content_type). Host
/// in particular: with a port in it, it breaks the certificate host check.
bool engine_owned_header(std::string_view name) noexcept;

/// The Content-Type an engine writes with the request's body: the caller's
/// Content-Type header, else text/xml; nullopt when there is no body to
/// describe (empty, and not a POST, which always says its length).
std::optional<std::string> body_content_type(const http_request& request);

/// An HTTP token character (RFC 9110 5.6.2): methods, header and cookie names.
bool is_token_char(char c) noexcept;

/// errc::invalid_argument unless `method` is a token.
status check_method(std::string_view method);

/// errc::invalid_argument for a header that would split the request: an
/// empty name, a line break or NUL anywhere, a colon in the name.
status check_header(const http_header& header);

/// errc::cancelled or errc::timeout (retryable), as `ctx` ended.
error_info context_error(const context& ctx);

}  // namespace ews::soap::detail
