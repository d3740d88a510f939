// The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) through the
// project's transport, answers read with the private flat JSON parser.

#include <ews/auth.hpp>

#include "auth/encoding.hpp"
#include "auth/flat_json.hpp"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdlib>
#include <strings.h>

namespace ews {
namespace {

// Longest lifetime believed from expires_in (Entra ID issues 60-90 minutes):
// a bogus huge number must not pin a token for years.
constexpr std::int64_t max_lifetime_seconds = 24 * 3600;

std::string first_line(std::string text, std::size_t max = 300) {
  if (auto nl = text.find_first_of("\r\n"); nl != std::string::npos) text.resize(nl);
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

// Removes the secret from server text before it goes into an error message
// (an endpoint could echo what it was sent).
std::string scrub(std::string text, std::string_view secret_value) {
  if (secret_value.size() < 4) return text;
  for (auto at = text.find(secret_value); at != std::string::npos; at = text.find(secret_value, at)) {
    text.replace(at, secret_value.size(), "***");
  }
  return text;
}

struct source_state {
  client_credentials_options options;
  std::string body;  // the form: built once, wiped when the provider goes

  ~source_state() { OPENSSL_cleanse(body.data(), body.size()); }

  clock::time_point now() const {
    return options.cache.time ? options.cache.time->now() : std::chrono::steady_clock::now();
  }

  error_info refused(const soap::http_response& r, std::string what) const {
    auto e = make_error(errc::authentication, "token endpoint " + options.token_url + " " + std::move(what));
    e.http_status = r.head.status;
    e.transient = r.head.status >= 500 || r.head.status == 429;
    if (auto id = soap::find_header(r.head.headers, "x-ms-request-id")) e.request_id = *id;
    return e;
  }

  result<access_token> fetch(const context& ctx) const {
    soap::http_request req;
    req.method = "POST";
    req.url = options.token_url;
    req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    req.headers.push_back({"Accept", "application/json"});
    req.body = body;
    req.inactivity_timeout = options.request_timeout;
    auto sent = options.http->send(req, ctx.with_timeout(options.request_timeout));
    OPENSSL_cleanse(req.body.data(), req.body.size());
    if (!sent) {
      error_info e = std::move(sent).error();
      e.message = "cannot reach the token endpoint " + options.token_url + ": " + e.message;
      return e;
    }
    const soap::http_response& r = *sent;
    auto json = auth::detail::parse_flat_json(r.body);
    if (!json) {
      const auto type = soap::find_header(r.head.headers, "Content-Type").value_or("no content type");
      return refused(r, "answered HTTP " + std::to_string(r.head.status) + " with " + first_line(type) +
                            ", not a JSON token response");
    }
    const auto member = [&](std::string_view name) -> const auth::detail::flat_json_value* {
      auto it = json->find(name);
      return it == json->end() ? nullptr : &it->second;
    };
    if (const auto* code = member("error"); code != nullptr || r.head.status != 200) {
      std::string what = "refused the client credentials: ";
      what += code != nullptr ? code->text : "HTTP " + std::to_string(r.head.status);
      if (const auto* d = member("error_description"); d != nullptr && !d->text.empty()) {
        what += ": " + first_line(scrub(d->text, options.client_secret.reveal()));
      }
      return refused(r, std::move(what));
    }
    const auto* token = member("access_token");
    if (token == nullptr || token->type != auth::detail::flat_json_value::kind::string || token->text.empty()) {
      return refused(r, "answered without an access_token");
    }
    if (const auto* type = member("token_type"); type != nullptr && strcasecmp(type->text.c_str(), "Bearer") != 0) {
      return refused(r, "issued a token of type " + first_line(type->text, 40) + ", not Bearer");
    }
    access_token out{secret(std::string(token->text)), std::nullopt};
    if (const auto* expires = member("expires_in")) {
      // A number, or a string holding one (Azure AD v1 endpoints send "3599").
      errno = 0;
      char* end = nullptr;
      const long long seconds = std::strtoll(expires->text.c_str(), &end, 10);
      if (errno != 0 || end == expires->text.c_str() || seconds < 0) {
        return refused(r, "answered with an invalid expires_in");
      }
      out.expires_at = now() + std::chrono::seconds(std::min<long long>(seconds, max_lifetime_seconds));
    }
    return out;
  }
};

void check(const client_credentials_options& o) {
  auto bad = [](const char* what) { throw error(make_error(errc::invalid_argument, what)); };
  if (o.token_url.empty()) bad("the client-credentials flow needs a token URL");
  if (o.client_id.empty()) bad("the client-credentials flow needs a client id");
  if (o.client_secret.empty()) bad("the client-credentials flow needs a client secret");
  if (!o.http) bad("the client-credentials flow needs a transport");
}

}  // namespace

token_source client_credentials_source(client_credentials_options options) {
  check(options);
  auto state = std::make_shared<source_state>();
  using auth::detail::form_encode;
  state->body = "grant_type=client_credentials&client_id=" + form_encode(options.client_id) +
                "&client_secret=" + form_encode(options.client_secret.reveal()) +
                (options.scope.empty() ? std::string() : "&scope=" + form_encode(options.scope));
  state->options = std::move(options);
  return [state](const context& ctx) { return state->fetch(ctx); };
}

std::shared_ptr<credential_provider> make_client_credentials(client_credentials_options options) {
  token_cache_options cache = options.cache;
  return make_bearer_token(client_credentials_source(std::move(options)), std::move(cache));
}

}  // namespace ews
