// NTLM and Negotiate (Kerberos/SPNEGO) through GSSAPI. The message crypto is
// MIT Kerberos' and gss-ntlmssp's; this file only drives the handshake over
// HTTP's 401 challenge and keeps one handshake per calling thread, because
// service_client answers a challenge on the thread that made the request.

#include <ews/auth.hpp>

#include "auth/encoding.hpp"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>

#include <map>
#include <mutex>
#include <strings.h>
#include <thread>

namespace ews {
namespace {

// 1.3.6.1.4.1.311.2.2.10 (NTLMSSP) and 1.3.6.1.5.5.2 (SPNEGO), DER bodies.
// Never written; not const only because the GSSAPI C signatures take gss_OID.
gss_OID_desc ntlm_oid = {10, const_cast<char*>("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a")};
gss_OID_desc spnego_oid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};

// Bounds on what a challenge may hold (an NTLM Type 2 is a few hundred bytes,
// a Kerberos reply a few KiB).
constexpr std::size_t max_challenge_chars = 64 * 1024;
constexpr std::size_t max_handshakes = 256;

std::string gss_message(OM_uint32 major, OM_uint32 minor, gss_OID mech) {
  std::string out;
  auto append = [&](OM_uint32 code, int type, gss_OID m) {
    OM_uint32 more = 0;
    do {
      OM_uint32 ignored = 0;
      gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
      if (gss_display_status(&ignored, code, type, m, &more, &text) != GSS_S_COMPLETE) break;
      if (!out.empty()) out += "; ";
      out.append(static_cast<const char*>(text.value), text.length);
      gss_release_buffer(&ignored, &text);
    } while (more != 0);
  };
  append(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  if (minor != 0) append(minor, GSS_C_MECH_CODE, mech);
  return out;
}

struct name_handle {
  gss_name_t name = GSS_C_NO_NAME;
  name_handle() = default;
  name_handle(const name_handle&) = delete;
  name_handle& operator=(const name_handle&) = delete;
  ~name_handle() {
    OM_uint32 minor = 0;
    if (name != GSS_C_NO_NAME) gss_release_name(&minor, &name);
  }
};

struct context_handle {
  gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
  context_handle() = default;
  context_handle(const context_handle&) = delete;
  context_handle& operator=(const context_handle&) = delete;
  ~context_handle() {
    OM_uint32 minor = 0;
    if (ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
  }
};

std::string host_of(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  if (auto at = url.find('@', start); at != std::string::npos && at < url.find('/', start)) start = at + 1;
  if (start < url.size() && url[start] == '[') {  // [v6]
    const auto close = url.find(']', start);
    return close == std::string::npos ? std::string() : url.substr(start + 1, close - start - 1);
  }
  const auto end = url.find_first_of(":/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The base64 token after `scheme` in the WWW-Authenticate headers ("" when
// the scheme is offered without one). Values may be joined with ", ".
std::optional<std::string> challenge_token(const soap::http_headers& headers, std::string_view scheme) {
  for (const auto& h : headers) {
    if (strcasecmp(h.name.c_str(), "WWW-Authenticate") != 0) continue;
    std::size_t pos = 0;
    while (pos <= h.value.size()) {
      auto end = h.value.find(',', pos);
      if (end == std::string::npos) end = h.value.size();
      std::string_view part(h.value.data() + pos, end - pos);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (part.size() >= scheme.size() && strncasecmp(part.data(), scheme.data(), scheme.size()) == 0 &&
          (part.size() == scheme.size() || part[scheme.size()] == ' ')) {
        part.remove_prefix(scheme.size());
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        return std::string(part);
      }
      pos = end + 1;
    }
  }
  return std::nullopt;
}

class negotiate_provider final : public credential_provider {
 public:
  explicit negotiate_provider(negotiate_options options)
      : options_(std::move(options)),
        mech_(options_.use == negotiate_options::scheme::ntlm ? &ntlm_oid : &spnego_oid),
        scheme_(options_.use == negotiate_options::scheme::ntlm ? "NTLM" : "Negotiate") {
    if (options_.user.empty()) return;  // default credentials (Kerberos ticket cache, keytab)
    OM_uint32 minor = 0;
    name_handle user;
    gss_buffer_desc user_buffer{options_.user.size(), const_cast<char*>(options_.user.data())};
    OM_uint32 major = gss_import_name(&minor, &user_buffer, GSS_C_NT_USER_NAME, &user.name);
    if (GSS_ERROR(major)) fail("cannot use the user name", major, minor);
    const std::string_view password = options_.password.reveal();
    gss_buffer_desc password_buffer{password.size(), const_cast<char*>(password.data())};
    gss_OID_set_desc mechs{1, mech_};
    major = gss_acquire_cred_with_password(&minor, user.name, &password_buffer, GSS_C_INDEFINITE, &mechs,
                                           GSS_C_INITIATE, &cred_, nullptr, nullptr);
    if (GSS_ERROR(major)) fail("cannot acquire credentials", major, minor);
  }

  ~negotiate_provider() override {
    std::lock_guard<std::mutex> lock(mutex_);
    handshakes_.clear();
    OM_uint32 minor = 0;
    if (cred_ != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &cred_);
  }

  status apply(soap::http_request& request, const context&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto me = std::this_thread::get_id();
    if (auto it = handshakes_.find(me); it != handshakes_.end() && it->second.answer) {
      // The retry after a challenge: the final leg (NTLM Type 3).
      request.headers.push_back({"Authorization", scheme_ + " " + *it->second.answer});
      handshakes_.erase(it);
      return ok;
    }
    handshakes_.erase(me);
    if (handshakes_.size() >= max_handshakes) handshakes_.clear();  // abandoned ones (threads gone)

    handshake& h = handshakes_[me];
    const std::string host = options_.service_host.empty() ? host_of(request.url) : options_.service_host;
    if (host.empty()) return make_error(errc::invalid_argument, "no host for the HTTP service name");
    const std::string service = "HTTP@" + host;
    gss_buffer_desc service_buffer{service.size(), const_cast<char*>(service.data())};
    OM_uint32 minor = 0;
    OM_uint32 major = gss_import_name(&minor, &service_buffer, GSS_C_NT_HOSTBASED_SERVICE, &h.target.name);
    if (GSS_ERROR(major)) return error_of("cannot use the service name " + service, major, minor);
    auto token = step(h, nullptr, major, minor);
    if (GSS_ERROR(major) || token.empty()) {
      handshakes_.erase(me);
      return error_of("cannot start the " + scheme_ + " handshake", major, minor);
    }
    request.headers.push_back({"Authorization", scheme_ + " " + token});
    if (major == GSS_S_COMPLETE) handshakes_.erase(me);  // one leg (Kerberos)
    return ok;
  }

  bool refresh_after_unauthorized(const soap::http_response_head& challenge, const context&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = handshakes_.find(std::this_thread::get_id());
    if (it == handshakes_.end() || it->second.answer) {
      options_.log(log_level::warning, scheme_ + ": HTTP 401 without a handshake in progress: credentials refused");
      return false;
    }
    auto token = challenge_token(challenge.headers, scheme_);
    if (!token || token->empty() || token->size() > max_challenge_chars) {
      handshakes_.erase(it);
      options_.log(log_level::warning, scheme_ + ": the server refused the credentials (no challenge to answer)");
      return false;
    }
    auto bytes = auth::detail::base64_decode(*token);
    if (!bytes) {
      handshakes_.erase(it);
      options_.log(log_level::warning, scheme_ + ": the server's challenge is not base64");
      return false;
    }
    OM_uint32 major = 0;
    OM_uint32 minor = 0;
    gss_buffer_desc input{bytes->size(), bytes->data()};
    auto answer = step(it->second, &input, major, minor);
    if (GSS_ERROR(major) || answer.empty()) {
      handshakes_.erase(it);
      options_.log(log_level::warning, scheme_ + ": cannot answer the server's challenge: " +
                                           gss_message(major, minor, mech_));
      return false;
    }
    it->second.answer = std::move(answer);
    return true;
  }

 private:
  struct handshake {
    name_handle target;
    context_handle ctx;
    std::optional<std::string> answer;  // base64 token for the retry
  };

  // One gss_init_sec_context call; the output token as base64.
  std::string step(handshake& h, gss_buffer_t input, OM_uint32& major, OM_uint32& minor) {
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
    major = gss_init_sec_context(&minor, cred_, &h.ctx.ctx, h.target.name, mech_, 0, GSS_C_INDEFINITE,
                                 GSS_C_NO_CHANNEL_BINDINGS, input, nullptr, &output, nullptr, nullptr);
    std::string token;
    if (output.length > 0) {
      token = auth::detail::base64_encode(std::string_view(static_cast<const char*>(output.value), output.length));
    }
    OM_uint32 ignored = 0;
    gss_release_buffer(&ignored, &output);
    return token;
  }

  error_info error_of(const std::string& what, OM_uint32 major, OM_uint32 minor) const {
    return make_error(errc::authentication, scheme_ + ": " + what + ": " + gss_message(major, minor, mech_));
  }
  [[noreturn]] void fail(const std::string& what, OM_uint32 major, OM_uint32 minor) const {
    throw error(error_of(what, major, minor));
  }

  negotiate_options options_;
  gss_OID mech_;
  std::string scheme_;
  gss_cred_id_t cred_ = GSS_C_NO_CREDENTIAL;
  std::mutex mutex_;
  std::map<std::thread::id, handshake> handshakes_;
};

}  // namespace

std::shared_ptr<credential_provider> make_negotiate_credentials(negotiate_options options) {
  return std::make_shared<negotiate_provider>(std::move(options));
}

}  // namespace ews
