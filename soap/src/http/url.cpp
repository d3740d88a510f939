#include "http/url.hpp"

#include <algorithm>
#include <cctype>

namespace ews::soap::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

error_info bad(std::string_view url, std::string_view why) {
  // The URL is not repeated whole: it may carry a query with secrets.
  std::string head(url.substr(0, std::min<std::size_t>(url.size(), 64)));
  return make_error(errc::invalid_argument, "invalid URL '" + head + "': " + std::string(why));
}

bool is_ipv4_loopback(std::string_view host) noexcept {
  // Dotted quad whose first octet is 127.
  int parts = 0;
  std::size_t i = 0;
  int first = -1;
  while (i <= host.size()) {
    std::size_t j = i;
    int value = 0;
    while (j < host.size() && std::isdigit(static_cast<unsigned char>(host[j])) && j - i < 3) {
      value = value * 10 + (host[j] - '0');
      ++j;
    }
    if (j == i || value > 255) return false;
    if (first < 0) first = value;
    ++parts;
    if (j == host.size()) break;
    if (host[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4 && first == 127;
}

std::uint16_t default_port(std::string_view scheme) noexcept { return scheme == "https" ? 443 : 80; }

std::string bracketed_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

std::string parsed_url::origin() const { return scheme + "://" + bracketed_host(host) + ":" + std::to_string(port); }

std::string parsed_url::authority() const {
  return port == default_port(scheme) ? bracketed_host(host) : bracketed_host(host) + ":" + std::to_string(port);
}

result<parsed_url> parse_url(std::string_view url) {
  parsed_url out;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return bad(url, "no scheme");
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return bad(url, "scheme must be http or https");
  std::string_view rest = url.substr(sep + 3);
  const auto end_of_authority = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end_of_authority);
  std::string_view target =
      end_of_authority == std::string_view::npos ? std::string_view{} : rest.substr(end_of_authority);
  if (authority.find('@') != std::string_view::npos) return bad(url, "credentials in the URL are not allowed");
  if (authority.empty()) return bad(url, "no host");

  std::string_view host;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad(url, "unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad(url, "junk after IPv6 address");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad(url, "no host");
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '/' || c == '\\') return bad(url, "invalid host");
  }
  out.host = lower(host);

  if (port.empty()) {
    out.port = default_port(out.scheme);
  } else {
    if (port.size() > 5) return bad(url, "invalid port");
    unsigned value = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return bad(url, "invalid port");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return bad(url, "invalid port");
    out.port = static_cast<std::uint16_t>(value);
  }

  // The fragment never goes on the wire.
  if (const auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad(url, "invalid character in path");
  }
  out.target = target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  return out;
}

bool is_loopback_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto equals_ci = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (equals_ci(host, "localhost") || equals_ci(host, "localhost.")) return true;
  if (host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  return is_ipv4_loopback(host);
}

result<parsed_url> check_url(std::string_view url, bool allow_insecure_http) {
  auto parsed = parse_url(url);
  if (!parsed) return parsed;
  if (parsed->scheme == "http" && !allow_insecure_http && !is_loopback_host(parsed->host)) {
    return make_error(errc::insecure_url,
                      "refusing plain http:// to " + parsed->host +
                          " (credentials would travel unencrypted); use https or allow_insecure_http");
  }
  return parsed;
}

}  // namespace ews::soap::detail
