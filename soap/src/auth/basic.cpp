// HTTP Basic (RFC 7617) and a fixed bearer token: providers with nothing to
// refresh, so a 401 is final.

#include <ews/auth.hpp>

#include "auth/encoding.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace ews {
namespace {

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A header value holding a secret; its bytes are wiped when the provider goes.
class fixed_header final : public credential_provider {
 public:
  explicit fixed_header(secret value) : value_(std::move(value)) {}

  status apply(soap::http_request& request, const context&) override {
    request.headers.push_back({"Authorization", std::string(value_.reveal())});
    return ok;
  }
  bool refresh_after_unauthorized(const soap::http_response_head&, const context&) override { return false; }

 private:
  secret value_;
};

}  // namespace

std::shared_ptr<credential_provider> make_basic_credentials(std::string user, secret password) {
  if (user.empty()) throw error(make_error(errc::invalid_argument, "Basic authentication needs a user name"));
  // RFC 7617: the user-id cannot contain a colon (the server splits at the first one).
  if (user.find(':') != std::string::npos || has_control(user)) {
    throw error(make_error(errc::invalid_argument, "the user name for Basic authentication may not contain ':' "
                                                   "or control characters"));
  }
  std::string joined = user + ":" + std::string(password.reveal());
  std::string header = "Basic " + auth::detail::base64_encode(joined);
  OPENSSL_cleanse(joined.data(), joined.size());
  return std::make_shared<fixed_header>(secret(std::move(header)));
}

std::shared_ptr<credential_provider> make_bearer_token(secret token) {
  if (token.empty()) throw error(make_error(errc::invalid_argument, "the bearer token is empty"));
  if (has_control(token.reveal()) || token.reveal().find(' ') != std::string_view::npos) {
    throw error(make_error(errc::invalid_argument,
                           "the bearer token contains spaces or control characters (is it the right file?)"));
  }
  return std::make_shared<fixed_header>(secret("Bearer " + std::string(token.reveal())));
}

}  // namespace ews
