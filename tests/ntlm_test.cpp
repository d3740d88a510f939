// NTLM through GSSAPI (gss-ntlmssp): the recorded Exchange 2010 challenge
// parsed, Type 1/Type 3 produced by the provider, the Type 3's NTLMv2 response
// checked by an independent OpenSSL computation that is itself proven with
// the MS-NLMP section 4.2.4 test vectors, and the handshake over the real
// transport against the replay server (same TCP connection for both legs).

#include <ews/auth.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/testing/replay_server.hpp>

#include "auth/encoding.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

using namespace std::chrono_literals;
namespace rt = ews::testing;
namespace detail = ews::auth::detail;

namespace {

// ---- test-side NTLM reading and NTLMv2 checking ---------------------------------

std::uint16_t u16(const std::string& b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b.at(at)) | static_cast<std::uint8_t>(b.at(at + 1)) << 8);
}
std::uint32_t u32(const std::string& b, std::size_t at) { return u16(b, at) | static_cast<std::uint32_t>(u16(b, at + 2)) << 16; }

// A (len, maxlen, offset) field's bytes, bounds-checked.
std::string field(const std::string& msg, std::size_t at) {
  const std::size_t len = u16(msg, at);
  const std::size_t off = u32(msg, at + 4);
  BOOST_REQUIRE(off <= msg.size() && len <= msg.size() - off);
  return msg.substr(off, len);
}

std::string utf16le(const std::string& ascii) {
  std::string out;
  for (char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}
std::string from_utf16le(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) out += s[i];
  return out;
}
std::string hex(const std::string& b) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}
std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

struct challenge_message {
  std::uint32_t flags = 0;
  std::string server_challenge;  // 8 bytes
  std::string target_name;
  std::vector<std::pair<std::uint16_t, std::string>> av_pairs;  // MsvAvEOL excluded
  std::string target_info;                                      // raw
};

challenge_message parse_type2(const std::string& msg) {
  BOOST_REQUIRE(msg.size() >= 48);
  BOOST_REQUIRE(msg.compare(0, 8, std::string("NTLMSSP\0", 8)) == 0);
  BOOST_REQUIRE(u32(msg, 8) == 2u);
  challenge_message c;
  c.target_name = from_utf16le(field(msg, 12));
  c.flags = u32(msg, 20);
  c.server_challenge = msg.substr(24, 8);
  c.target_info = field(msg, 40);
  for (std::size_t p = 0; p + 4 <= c.target_info.size();) {
    const auto id = u16(c.target_info, p);
    const auto len = u16(c.target_info, p + 2);
    BOOST_REQUIRE(p + 4 + len <= c.target_info.size());
    if (id == 0) break;
    c.av_pairs.emplace_back(id, c.target_info.substr(p + 4, len));
    p += 4 + len;
  }
  return c;
}

// The recorded Type 2 with its MsvAvTimestamp set to `when` (gss-ntlmssp
// refuses a challenge from 2013: the client checks the server's clock).
std::string with_timestamp(std::string msg, std::chrono::system_clock::time_point when) {
  const std::size_t info_off = u32(msg, 44);
  const std::size_t info_len = u16(msg, 40);
  for (std::size_t p = info_off; p + 4 <= info_off + info_len;) {
    const auto id = u16(msg, p);
    const auto len = u16(msg, p + 2);
    if (id == 7 && len == 8) {
      const auto since_1601 = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count() * 10 +
                              116444736000000000LL;
      for (int i = 0; i < 8; ++i) msg[p + 4 + i] = static_cast<char>(since_1601 >> (8 * i) & 0xff);
      return msg;
    }
    if (id == 0) break;
    p += 4 + len;
  }
  BOOST_FAIL("no MsvAvTimestamp in the challenge");
  return msg;
}

// MD4 lives in OpenSSL 3's legacy provider: loaded into a library context of
// this test's own, never into the default one.
class md4_context {
 public:
  md4_context() : libctx_(OSSL_LIB_CTX_new()) {
    BOOST_REQUIRE(libctx_);
    legacy_ = OSSL_PROVIDER_load(libctx_, "legacy");
    base_ = OSSL_PROVIDER_load(libctx_, "default");
    BOOST_REQUIRE_MESSAGE(legacy_, "OpenSSL legacy provider not available");
    md4_ = EVP_MD_fetch(libctx_, "MD4", nullptr);
    BOOST_REQUIRE(md4_);
  }
  ~md4_context() {
    EVP_MD_free(md4_);
    if (legacy_) OSSL_PROVIDER_unload(legacy_);
    if (base_) OSSL_PROVIDER_unload(base_);
    OSSL_LIB_CTX_free(libctx_);
  }
  md4_context(const md4_context&) = delete;
  md4_context& operator=(const md4_context&) = delete;

  std::string digest(const std::string& data) const {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    BOOST_REQUIRE(EVP_Digest(data.data(), data.size(), out, &n, md4_, nullptr) == 1);
    return std::string(reinterpret_cast<char*>(out), n);
  }

 private:
  OSSL_LIB_CTX* libctx_;
  OSSL_PROVIDER* legacy_ = nullptr;
  OSSL_PROVIDER* base_ = nullptr;
  EVP_MD* md4_ = nullptr;
};

std::string hmac_md5(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  BOOST_REQUIRE(HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n) != nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// MS-NLMP 3.3.2: NTOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) || UserDom)).
std::string ntowfv2(const md4_context& md4, const std::string& password, const std::string& user,
                    const std::string& domain) {
  return hmac_md5(md4.digest(utf16le(password)), utf16le(upper(user) + domain));
}

// Whether an NTLMv2 NtChallengeResponse (NTProofStr || temp) was made with
// this password for this server challenge.
bool ntlmv2_response_matches(const md4_context& md4, const std::string& response, const std::string& server_challenge,
                             const std::string& password, const std::string& user, const std::string& domain) {
  if (response.size() <= 16) return false;
  const std::string temp = response.substr(16);
  return hmac_md5(ntowfv2(md4, password, user, domain), server_challenge + temp) == response.substr(0, 16);
}

struct authenticate_message {
  std::string nt_response, domain, user, workstation;
  std::uint32_t flags = 0;
};

authenticate_message parse_type3(const std::string& msg) {
  BOOST_REQUIRE(msg.size() >= 64);
  BOOST_REQUIRE(msg.compare(0, 8, std::string("NTLMSSP\0", 8)) == 0);
  BOOST_REQUIRE(u32(msg, 8) == 3u);
  authenticate_message a;
  a.nt_response = field(msg, 20);
  a.domain = from_utf16le(field(msg, 28));
  a.user = from_utf16le(field(msg, 36));
  a.workstation = from_utf16le(field(msg, 44));
  a.flags = u32(msg, 60);
  return a;
}

std::string recorded_type2() {
  std::ifstream in(std::string(EWS_TEST_DIR) +
                   "/fixtures/wire/gnome-evolution-ews/traces/Exchange2010_SP2/camel/folder/create_existing_folder");
  BOOST_REQUIRE(in);
  const std::string prefix = "< WWW-Authenticate: NTLM ";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) {
      auto bytes = detail::base64_decode(line.substr(prefix.size()));
      BOOST_REQUIRE(bytes.has_value());
      return *bytes;
    }
  }
  BOOST_FAIL("no NTLM challenge in the trace");
  return {};
}

std::string token_after(const std::string& header, const std::string& scheme) {
  BOOST_REQUIRE_MESSAGE(header.rfind(scheme + " ", 0) == 0, header);
  auto bytes = detail::base64_decode(header.substr(scheme.size() + 1));
  BOOST_REQUIRE(bytes.has_value());
  return *bytes;
}

ews::soap::http_response_head challenge_head(const std::string& type2) {
  ews::soap::http_response_head head;
  head.status = 401;
  head.headers.push_back({"WWW-Authenticate", "NTLM " + detail::base64_encode(type2)});
  head.headers.push_back({"WWW-Authenticate", "Negotiate"});
  return head;
}

std::string apply(ews::credential_provider& p, const std::string& url = "http://exchange2010.gsslab.pnq.redhat.com/EWS/Exchange.asmx") {
  ews::soap::http_request req;
  req.url = url;
  auto r = p.apply(req, ews::context());
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return ews::soap::find_header(req.headers, "Authorization").value_or("");
}

std::shared_ptr<ews::credential_provider> ntlm_provider(const std::string& password, ews::logger log = {}) {
  ews::negotiate_options o;
  o.use = ews::negotiate_options::scheme::ntlm;
  o.user = "GSSLAB\\user";
  o.password = ews::secret(password);
  o.log = std::move(log);
  return ews::make_negotiate_credentials(std::move(o));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ntlm)

// MS-NLMP 4.2.4 (NTLMv2 authentication): User "User", UserDom "Domain",
// Passwd "Password", ServerChallenge 0123456789abcdef, ClientChallenge aa*8,
// Time 0, target info MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server".
BOOST_AUTO_TEST_CASE(the_checker_reproduces_ms_nlmp_4_2_4) {
  md4_context md4;
  BOOST_TEST(hex(ntowfv2(md4, "Password", "User", "Domain")) == "0c868a403bfd7a93a3001ef22ef02e3f");
  const std::string server_challenge = unhex("0123456789abcdef");
  const std::string av = std::string("\x02\x00\x0c\x00", 4) + utf16le("Domain") + std::string("\x01\x00\x0c\x00", 4) +
                         utf16le("Server") + std::string(4, '\0');
  const std::string temp = std::string("\x01\x01", 2) + std::string(6, '\0') + std::string(8, '\0') +
                           std::string(8, '\xaa') + std::string(4, '\0') + av + std::string(4, '\0');
  const std::string proof = hmac_md5(ntowfv2(md4, "Password", "User", "Domain"), server_challenge + temp);
  BOOST_TEST(hex(proof) == "68cd0ab851e51c96aabc927bebef6a1c");
  BOOST_TEST(ntlmv2_response_matches(md4, proof + temp, server_challenge, "Password", "User", "Domain"));
  BOOST_TEST(!ntlmv2_response_matches(md4, proof + temp, server_challenge, "Passw0rd", "User", "Domain"));
}

BOOST_AUTO_TEST_CASE(the_recorded_exchange_2010_challenge_parses) {
  const auto c = parse_type2(recorded_type2());
  BOOST_TEST(c.flags == 0x02818205u);  // Unicode, request target, NTLM, target type domain, target info, version
  BOOST_TEST(hex(c.server_challenge) == "54e937134b39ab56");
  BOOST_TEST(c.target_name == "GSSLAB");
  BOOST_REQUIRE(c.av_pairs.size() == 6u);
  BOOST_TEST(from_utf16le(c.av_pairs[0].second) == "GSSLAB");                               // MsvAvNbDomainName
  BOOST_TEST(from_utf16le(c.av_pairs[1].second) == "EXCHANGE2010");                         // MsvAvNbComputerName
  BOOST_TEST(from_utf16le(c.av_pairs[3].second) == "exchange2010.gsslab.pnq.redhat.com");  // MsvAvDnsComputerName
  BOOST_TEST(c.av_pairs[5].first == 7u);                                                     // MsvAvTimestamp
  BOOST_TEST(hex(c.av_pairs[5].second) == "439b5dc163c5ce01");                              // 2013-10-10 02:52:27 UTC
}

BOOST_AUTO_TEST_CASE(type1_then_type3_answering_the_recorded_challenge) {
  md4_context md4;
  auto p = ntlm_provider("Passw0rd");
  const std::string type1 = token_after(apply(*p), "NTLM");
  BOOST_TEST(type1.compare(0, 8, std::string("NTLMSSP\0", 8)) == 0);
  BOOST_TEST(u32(type1, 8) == 1u);

  const std::string type2 = with_timestamp(recorded_type2(), std::chrono::system_clock::now());
  BOOST_TEST(p->refresh_after_unauthorized(challenge_head(type2), ews::context()));
  const auto type3 = parse_type3(token_after(apply(*p), "NTLM"));
  BOOST_TEST(type3.user == "user");
  BOOST_TEST(type3.domain == "GSSLAB");
  // NTLMv2: the response carries the server's target info and proves the password.
  BOOST_TEST(type3.nt_response.size() > 24u);
  BOOST_TEST(type3.nt_response.find(utf16le("exchange2010.gsslab.pnq.redhat.com")) != std::string::npos);
  const std::string server_challenge = parse_type2(type2).server_challenge;
  BOOST_TEST(ntlmv2_response_matches(md4, type3.nt_response, server_challenge, "Passw0rd", "user", "GSSLAB"));
  BOOST_TEST(!ntlmv2_response_matches(md4, type3.nt_response, server_challenge, "passw0rd", "user", "GSSLAB"));

  // The handshake is over: the next request starts a new one.
  BOOST_TEST(u32(token_after(apply(*p), "NTLM"), 8) == 1u);
}

BOOST_AUTO_TEST_CASE(the_recorded_challenge_as_is_is_refused_for_its_2013_timestamp) {
  std::vector<std::string> lines;
  auto p = ntlm_provider("Passw0rd", {[&](ews::log_level, std::string_view l) { lines.emplace_back(l); },
                                      ews::log_level::trace});
  (void)apply(*p);
  BOOST_TEST(!p->refresh_after_unauthorized(challenge_head(recorded_type2()), ews::context()));
  BOOST_REQUIRE(!lines.empty());
  BOOST_TEST(lines.back().find("cannot answer the server's challenge") != std::string::npos, lines.back());
}

BOOST_AUTO_TEST_CASE(a_401_without_a_challenge_or_without_a_handshake_is_final) {
  auto p = ntlm_provider("Passw0rd");
  ews::soap::http_response_head bare;
  bare.status = 401;
  bare.headers.push_back({"WWW-Authenticate", "NTLM"});
  BOOST_TEST(!p->refresh_after_unauthorized(bare, ews::context()));  // no handshake on this thread
  (void)apply(*p);
  BOOST_TEST(!p->refresh_after_unauthorized(bare, ews::context()));  // refused outright
  ews::soap::http_response_head garbage;
  garbage.status = 401;
  garbage.headers.push_back({"WWW-Authenticate", "NTLM !!!notbase64"});
  (void)apply(*p);
  BOOST_TEST(!p->refresh_after_unauthorized(garbage, ews::context()));
  ews::soap::http_response_head junk;
  junk.status = 401;
  junk.headers.push_back({"WWW-Authenticate", "Negotiate, NTLM " + detail::base64_encode("NTLMSSP")});
  (void)apply(*p);
  BOOST_TEST(!p->refresh_after_unauthorized(junk, ews::context()));
}

// The whole handshake over the cpprestsdk transport: the replay server plays
// an NTLM server (fresh Type 2 from the recorded one, Type 3 checked with the
// password) that, unlike IIS, does not bind the handshake to the connection,
// and records on which TCP connection each leg came.
BOOST_AUTO_TEST_CASE(handshake_over_the_real_transport) {
  md4_context md4;
  rt::replay_server server;
  std::mutex m;
  std::string issued_challenge;
  std::vector<std::string> legs;
  server.on("GetItem", [&](const rt::received_request& r) {
    std::lock_guard<std::mutex> lock(m);
    const auto auth = ews::soap::find_header(r.headers, "Authorization").value_or("");
    rt::response unauthorized;
    unauthorized.status = 401;
    auto token = auth.rfind("NTLM ", 0) == 0 ? detail::base64_decode(auth.substr(5)) : std::nullopt;
    if (token && token->size() >= 12 && u32(*token, 8) == 1) {
      legs.push_back("type1@" + std::to_string(r.connection));
      issued_challenge = with_timestamp(recorded_type2(), std::chrono::system_clock::now());
      unauthorized.headers.push_back({"WWW-Authenticate", "NTLM " + detail::base64_encode(issued_challenge)});
      return unauthorized;
    }
    if (token && token->size() >= 64 && u32(*token, 8) == 3 && !issued_challenge.empty()) {
      legs.push_back("type3@" + std::to_string(r.connection));
      const auto a = parse_type3(*token);
      if (ntlmv2_response_matches(md4, a.nt_response, parse_type2(issued_challenge).server_challenge, "Passw0rd",
                                  a.user, a.domain)) {
        return rt::soap_response(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>");
      }
    }
    legs.push_back("refused@" + std::to_string(r.connection));
    return unauthorized;
  });

  std::mutex log_mutex;
  std::vector<std::string> lines;
  ews::logger log{[&](ews::log_level, std::string_view l) {
                    std::lock_guard<std::mutex> lock(log_mutex);
                    lines.emplace_back(l);
                  },
                  ews::log_level::trace};
  ews::soap::http_transport_options to;
  to.log = log;
  ews::soap::service_options so;
  so.url = server.url();
  so.http = ews::soap::make_http_transport(to);
  so.credentials = ntlm_provider("Passw0rd", log);
  so.log = log;
  ews::soap::service_client client(so);
  const std::string body =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:GetItem "
      "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"/></s:Body></s:Envelope>";
  for (int i = 0; i < 3; ++i) {
    auto r = client.call(body, {}, ews::context().with_timeout(30s));
    BOOST_TEST(r.has_value(), (r ? "" : r.error().message));
  }
  {
    std::lock_guard<std::mutex> lock(m);
    std::string all;
    for (const auto& l : legs) all += l + " ";
    BOOST_TEST_MESSAGE("legs: " << all);
    BOOST_REQUIRE(legs.size() == 6u);
    std::size_t same_connection = 0;
    for (std::size_t i = 0; i < legs.size(); i += 2) {
      BOOST_TEST(legs[i].rfind("type1@", 0) == 0);
      BOOST_TEST(legs[i + 1].rfind("type3@", 0) == 0);
      if (legs[i].substr(legs[i].find('@')) == legs[i + 1].substr(legs[i + 1].find('@'))) ++same_connection;
    }
    // Measured, not asserted: the cpprestsdk transport often sends the Type 3
    // on another pooled connection than the Type 1, even with one thread and
    // nothing else in flight (the connection returns to the pool after send()
    // has returned). This server accepts that; IIS does not (NTLM is bound to
    // the connection), which is why NTLM against a real server is blocked on
    // a transport hook (see auth.hpp).
    BOOST_TEST_MESSAGE("both legs on one connection in " << same_connection << " of 3 handshakes");
  }
  std::lock_guard<std::mutex> lock(log_mutex);
  BOOST_TEST(!lines.empty());
  for (const auto& l : lines) {
    for (const std::string& s : {std::string("Passw0rd"), detail::base64_encode("Passw0rd"),
                                detail::base64_encode(utf16le("Passw0rd")), hex(utf16le("Passw0rd"))}) {
      BOOST_TEST(l.find(s) == std::string::npos, "secret in: " << l);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(negotiate)

// Without a Kerberos ticket (no kinit here) SPNEGO cannot start: a clear
// authentication error, no crash, no hang.
BOOST_AUTO_TEST_CASE(without_a_ticket_apply_is_an_authentication_error) {
  ::setenv("KRB5CCNAME", "FILE:/nonexistent/ews-auth-test-ccache", 1);
  ews::negotiate_options o;
  o.use = ews::negotiate_options::scheme::negotiate;
  auto p = ews::make_negotiate_credentials(std::move(o));
  ews::soap::http_request req;
  req.url = "https://mail.example.com/EWS/Exchange.asmx";
  auto r = p->apply(req, ews::context());
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == ews::errc::authentication);
  BOOST_TEST(r.error().message.rfind("Negotiate: cannot start the Negotiate handshake", 0) == 0u, r.error().message);
}

BOOST_AUTO_TEST_SUITE_END()
