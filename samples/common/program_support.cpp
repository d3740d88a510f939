#include "program_support.hpp"

#include <ews/auth.hpp>
#include <ews/secret.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ews::samples {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Host part of an absolute http(s) URL, brackets of an IPv6 literal removed.
std::string host_of(const std::string& url, std::size_t after_scheme) {
  const auto end = url.find_first_of("/?#", after_scheme);
  std::string authority = url.substr(after_scheme, end == std::string::npos ? std::string::npos : end - after_scheme);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    return close == std::string::npos ? std::string() : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

// Only literal loopback addresses and "localhost": a name such as
// "127.0.0.1.example.net" resolves wherever its owner wants.
bool is_loopback(const std::string& host) {
  const std::string h = lower(host);
  if (h == "localhost" || h == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

secret read_secret(result<secret> r, const char* flag, const std::string& name) {
  if (!r) throw usage_error(std::string(flag) + " " + name + ": " + r.error().message);
  return std::move(*r);
}

}  // namespace

void check_url(const std::string& url, bool allow_insecure_http) {
  const std::string l = lower(url.substr(0, 8));
  std::size_t after = 0;
  bool plain = false;
  if (l.rfind("https://", 0) == 0) {
    after = 8;
  } else if (l.rfind("http://", 0) == 0) {
    after = 7;
    plain = true;
  } else {
    throw usage_error("--url must start with https:// (e.g. https://mail.example.com/EWS/Exchange.asmx), got '" +
                      url + "'");
  }
  const std::string host = host_of(url, after);
  if (host.empty()) throw usage_error("--url has no host: '" + url + "'");
  if (plain && !allow_insecure_http && !is_loopback(host))
    throw usage_error("refusing plain http:// to " + host +
                      ": passwords and tokens would cross the network unencrypted; use https:// or add "
                      "--allow-insecure-http");
}

std::shared_ptr<credential_provider> make_credentials(const auth_options& a, std::shared_ptr<soap::transport> http) {
  using m = auth_options::method;
  try {
    switch (a.kind) {
      case m::none:
        return nullptr;
      case m::basic: {
        secret pw;
        if (!a.password.empty()) pw = secret(std::string_view(a.password));
        else if (!a.password_env.empty()) pw = read_secret(secret::from_env(a.password_env), "--password-env", a.password_env);
        else pw = read_secret(secret::from_file(a.password_file), "--password-file", a.password_file);
        return make_basic_credentials(a.user, std::move(pw));
      }
      case m::bearer: {
        secret token = !a.bearer_token.empty()
                           ? secret(std::string_view(a.bearer_token))
                           : read_secret(secret::from_file(a.bearer_token_file), "--bearer-token-file",
                                         a.bearer_token_file);
        return make_bearer_token(std::move(token));
      }
      case m::oauth_client_credentials: {
        client_credentials_options o;
        o.token_url = a.token_url;
        o.client_id = a.client_id;
        o.client_secret = !a.client_secret_env.empty()
                              ? read_secret(secret::from_env(a.client_secret_env), "--client-secret-env",
                                            a.client_secret_env)
                              : read_secret(secret::from_file(a.client_secret_file), "--client-secret-file",
                                            a.client_secret_file);
        o.scope = a.scope;
        o.http = std::move(http);
        return make_client_credentials(std::move(o));
      }
    }
  } catch (const error& e) {
    // The factories refuse malformed values (a token with spaces, a user
    // with ':'); their messages never carry the secret.
    throw usage_error(e.info().message);
  }
  return nullptr;
}

log_level parse_log_level(const std::string& name) {
  if (name == "trace") return log_level::trace;
  if (name == "debug") return log_level::debug;
  if (name == "info") return log_level::info;
  if (name == "error") return log_level::error;
  if (name == "off") return log_level::off;
  return log_level::warning;
}

void status_output::say(std::string_view text) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fprintf(stderr, "%s: %.*s\n", program_.c_str(), static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

logger status_output::make_logger(log_level level) {
  logger l;
  l.level = level;
  l.callback = [this](log_level lv, std::string_view message) {
    say(std::string("[") + std::string(to_string(lv)) + "] " + std::string(message));
  };
  return l;
}

void line_output::write(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::string explain_fatal(const error_info& e, const std::string& url) {
  const std::string detail = e.message.empty() ? std::string() : " (" + e.message + ")";
  switch (e.kind()) {
    case errc::authentication:
      return "the server refused the credentials: check the user name and password, or the token and its "
             "scope" + detail + ".";
    case errc::redirect:
      return "the server answered with a redirect instead of EWS: use the final EWS URL itself (usually "
             "https://<host>/EWS/Exchange.asmx)" + detail + ".";
    case errc::tls_failure:
      return "the TLS handshake with " + url + " failed: check that the server certificate is trusted "
             "(--ca-file PEM for a private CA) and that the host name matches" + detail + ".";
    case errc::connect_failed:
    case errc::timeout:
      return "could not reach " + url + ": check the host name, the port and that the server is running" +
             detail + ".";
    case errc::insecure_url:
      return "refusing plain http:// to a non-loopback host: use https:// or --allow-insecure-http" + detail + ".";
    case errc::http_status:
      if (e.http_status == 404)
        return "nothing answers EWS at " + url + " (HTTP 404): check the path, usually /EWS/Exchange.asmx.";
      return "the server answered HTTP " + std::to_string(e.http_status) + " at " + url +
             ": check the URL and that EWS is enabled" + detail + ".";
    case errc::malformed_xml:
    case errc::unexpected_response:
      return "the server at " + url + " does not answer like EWS: check the URL (usually ends in "
             "/EWS/Exchange.asmx)" + detail + ".";
    case errc::checkpoint_corrupt:
    case errc::io_error:
      return "the checkpoint could not be used" + detail + ".";
    default:
      break;
  }
  const std::string& code = e.response_code_text;
  if (code == "ErrorNonExistentMailbox" || code == "ErrorMailboxNotFound")
    return "the mailbox does not exist on this server: check the --mailbox address" + detail + ".";
  if (code == "ErrorImpersonateUserDenied" || code == "ErrorImpersonationDenied")
    return "the account may not impersonate that mailbox: grant it the ApplicationImpersonation role, or "
           "drop --mailbox to watch its own mailbox" + detail + ".";
  if (code == "ErrorAccessDenied")
    return "the account has no access to that mailbox or folder" + detail + ".";
  return "stopped on an error (" + e.code_name() + ")" + detail + ".";
}

}  // namespace ews::samples
