#pragma once
/// @file
/// Where credentials come from. A provider puts them on each request and is
/// asked once, after a 401, whether fresh ones may help. Applications plug in
/// their own secret store by implementing it.

#include <ews/context.hpp>
#include <ews/result.hpp>
#include <ews/soap/transport.hpp>

namespace ews {

class credential_provider {
 public:
  virtual ~credential_provider() = default;

  /// Adds credentials (usually the Authorization header) to `request`.
  /// May block to obtain a token (bounded by `ctx`); an error here is
  /// errc::authentication (or a transport error reaching a token endpoint).
  virtual status apply(soap::http_request& request, const context& ctx) = 0;

  /// Called after the server answered 401 to a request prepared by apply().
  /// Returns true when retrying once with newly applied credentials may
  /// succeed (a token was refreshed); false makes the 401 final.
  virtual bool refresh_after_unauthorized(const soap::http_response_head& challenge, const context& ctx) = 0;
};

}  // namespace ews
