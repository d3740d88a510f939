#pragma once
// Private: splitting and vetting request URLs before anything is sent.

#include <ews/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace ews::soap::detail {

struct parsed_url {
  std::string scheme;  ///< "http" or "https", lower case
  std::string host;    ///< lower case; IPv6 without brackets
  std::uint16_t port = 0;
  std::string target;  ///< path and query, at least "/"

  /// "https://host:port": the unit of connection pools and of credential scope.
  std::string origin() const;
  /// host[:port] as a Host header says it: IPv6 in brackets, the scheme's
  /// default port left out.
  std::string authority() const;
};

/// Parses an absolute http(s) URL. Rejects user info (credentials in a URL
/// end up in logs), fragments-only oddities and bad ports: errc::invalid_argument.
result<parsed_url> parse_url(std::string_view url);

/// 127.0.0.0/8, ::1 and "localhost" (also "localhost.").
bool is_loopback_host(std::string_view host) noexcept;

/// parse_url, then refuses http:// to a non-loopback host unless allowed
/// (errc::insecure_url): credentials must never cross the network in clear.
result<parsed_url> check_url(std::string_view url, bool allow_insecure_http);

}  // namespace ews::soap::detail
