// Credential providers: secrets, Basic, bearer tokens (fixed, cached with a
// manual clock, concurrent refresh), the OAuth client-credentials flow against
// a token endpoint on loopback, the 401 rule through service_client, and no
// secret in any trace-level log line.

#include <ews/auth.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/testing/replay_server.hpp>

#include "auth/encoding.hpp"
#include "auth/flat_json.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using ews::errc;
namespace rt = ews::testing;
namespace detail = ews::auth::detail;

namespace {

std::string authorization_of(ews::credential_provider& p, const std::string& url = "http://127.0.0.1/EWS") {
  ews::soap::http_request req;
  req.url = url;
  auto applied = p.apply(req, ews::context());
  BOOST_REQUIRE_MESSAGE(applied.has_value(), (applied ? "" : applied.error().message));
  return ews::soap::find_header(req.headers, "Authorization").value_or("");
}

// A file in the temporary folder, removed at scope end.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& content) {
    char name[] = "/tmp/ews-auth-XXXXXX";
    const int fd = mkstemp(name);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    close(fd);
    path = name;
  }
  ~temp_file() { std::remove(path.c_str()); }
};

const std::string ews_ok_body =
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:GetItemResponse "
    "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"/></s:Body></s:Envelope>";
const std::string ews_request_body =
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:GetItem "
    "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"/></s:Body></s:Envelope>";

rt::response json_response(int status, std::string body, std::string type = "application/json; charset=utf-8") {
  rt::response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"Content-Type", std::move(type)});
  return r;
}

}  // namespace

// ---- secrets ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(from_env_reads_the_value_and_errors_name_the_variable) {
  ::setenv("EWS_AUTH_TEST_SECRET", "s3cr3t-from-env", 1);
  auto s = ews::secret::from_env("EWS_AUTH_TEST_SECRET");
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->reveal() == "s3cr3t-from-env");

  ::unsetenv("EWS_AUTH_TEST_MISSING");
  auto missing = ews::secret::from_env("EWS_AUTH_TEST_MISSING");
  BOOST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error().kind() == errc::invalid_argument);
  BOOST_TEST(missing.error().message.find("EWS_AUTH_TEST_MISSING") != std::string::npos);

  ::setenv("EWS_AUTH_TEST_EMPTY", "", 1);
  auto empty = ews::secret::from_env("EWS_AUTH_TEST_EMPTY");
  BOOST_REQUIRE(!empty.has_value());
  BOOST_TEST(empty.error().message.find("EWS_AUTH_TEST_EMPTY is empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(from_file_trims_one_trailing_newline) {
  temp_file lf("pa ss\tword\n");
  BOOST_TEST(ews::secret::from_file(lf.path)->reveal() == "pa ss\tword");
  temp_file crlf("token\r\n");
  BOOST_TEST(ews::secret::from_file(crlf.path)->reveal() == "token");
  temp_file two("keep-one\n\n");
  BOOST_TEST(ews::secret::from_file(two.path)->reveal() == "keep-one\n");
  temp_file bare("no-newline");
  BOOST_TEST(ews::secret::from_file(bare.path)->reveal() == "no-newline");
}

BOOST_AUTO_TEST_CASE(from_file_errors_name_the_file_never_the_content) {
  auto missing = ews::secret::from_file("/nonexistent/ews-secret");
  BOOST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error().kind() == errc::io_error);
  BOOST_TEST(missing.error().message.find("/nonexistent/ews-secret") != std::string::npos);

  temp_file empty("\n");
  auto e = ews::secret::from_file(empty.path);
  BOOST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().message.find(empty.path + " is empty") != std::string::npos);

  temp_file big(std::string(70 * 1024, 'x'));
  auto b = ews::secret::from_file(big.path);
  BOOST_REQUIRE(!b.has_value());
  BOOST_TEST(b.error().message.find("larger than 64 KiB") != std::string::npos);
  BOOST_TEST(b.error().message.find("xxxx") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(copies_and_moves_keep_the_value_and_empty_the_source) {
  std::string raw = "hunter2-long-enough-to-leave-the-small-buffer";
  ews::secret a(std::move(raw));
  BOOST_TEST(raw.empty());
  ews::secret b = a;
  BOOST_TEST(b.reveal() == a.reveal());
  ews::secret c = std::move(a);
  BOOST_TEST(a.empty());
  BOOST_TEST(c.reveal() == "hunter2-long-enough-to-leave-the-small-buffer");
  ews::secret small("abc");
  ews::secret d(std::move(small));
  BOOST_TEST(small.empty());
  BOOST_TEST(d.reveal() == "abc");
  d = c;
  BOOST_TEST(d.reveal() == c.reveal());
}

BOOST_AUTO_TEST_SUITE_END()

// ---- encodings and the flat JSON reader -------------------------------------------

BOOST_AUTO_TEST_SUITE(encodings)

BOOST_AUTO_TEST_CASE(base64_round_trips_rfc4648_vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    BOOST_TEST(detail::base64_encode(plain) == coded);
    BOOST_TEST(detail::base64_decode(coded).value_or("?") == plain);
  }
  BOOST_TEST(!detail::base64_decode("Zm9").has_value());
  BOOST_TEST(!detail::base64_decode("Zm=v").has_value());
  BOOST_TEST(!detail::base64_decode("Z m9").has_value());
  BOOST_TEST(!detail::base64_decode("Zh==").has_value());  // non-zero pad bits: not canonical
  BOOST_TEST(!detail::base64_decode("Zm9=").has_value());
  BOOST_TEST(!detail::base64_decode("Zg==Zg==").has_value());
}

BOOST_AUTO_TEST_CASE(form_encoding_escapes_reserved_bytes) {
  BOOST_TEST(detail::form_encode("https://outlook.office365.com/.default") ==
             "https%3A%2F%2Foutlook.office365.com%2F.default");
  BOOST_TEST(detail::form_encode("a b&c=d+e~\xc3\xa9") == "a+b%26c%3Dd%2Be~%C3%A9");
}

BOOST_AUTO_TEST_CASE(flat_json_reads_a_token_response) {
  auto j = detail::parse_flat_json(
      " {\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":\"3599\",\"x\":-1.5e+3,"
      "\"ok\":true,\"n\":null,\"access_token\":\"eyJ0\\u00e9\\ud83d\\ude00\\n\\\"\\/\"}\r\n");
  BOOST_REQUIRE_MESSAGE(j.has_value(), (j ? "" : j.error().message));
  BOOST_TEST(j->at("token_type").text == "Bearer");
  BOOST_TEST((j->at("expires_in").type == detail::flat_json_value::kind::number));
  BOOST_TEST(j->at("expires_in").text == "3599");
  BOOST_TEST((j->at("ext_expires_in").type == detail::flat_json_value::kind::string));
  BOOST_TEST(j->at("x").text == "-1.5e+3");
  BOOST_TEST(j->at("ok").text == "true");
  BOOST_TEST(j->at("access_token").text == "eyJ0\xc3\xa9\xf0\x9f\x98\x80\n\"/");
  BOOST_TEST(detail::parse_flat_json("{}")->empty());
}

BOOST_AUTO_TEST_CASE(flat_json_refuses_everything_else) {
  for (const char* bad : {"", "<html>", "[]", "{\"a\":{}}", "{\"a\":[1]}", "{\"a\":1,}", "{\"a\":01}",
                          "{\"a\":1}x", "{\"a\":\"\\ud800\"}", "{\"a\":\"\x01\"}", "{\"a\":\"x", "{\"a\":1,\"a\":2}",
                          "{\"a\" 1}", "{a:1}", "{\"a\":tru}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":\"\\x\"}"}) {
    auto j = detail::parse_flat_json(bad);
    BOOST_TEST(!j.has_value(), "accepted: " << bad);
    if (!j) BOOST_TEST(j.error().kind() == errc::unexpected_response);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- Basic and fixed bearer -----------------------------------------------------

BOOST_AUTO_TEST_SUITE(fixed_credentials)

BOOST_AUTO_TEST_CASE(basic_header_follows_rfc7617) {
  // RFC 7617 section 2 and 2.1 (UTF-8 charset) examples.
  auto aladdin = ews::make_basic_credentials("Aladdin", ews::secret("open sesame"));
  BOOST_TEST(authorization_of(*aladdin) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  auto utf8 = ews::make_basic_credentials("test", ews::secret("123\xc2\xa3"));
  BOOST_TEST(authorization_of(*utf8) == "Basic dGVzdDoxMjPCow==");
  // A password may hold a colon; only the user name may not.
  auto colon = ews::make_basic_credentials("DOMAIN\\user", ews::secret("a:b"));
  BOOST_TEST(authorization_of(*colon) == "Basic " + detail::base64_encode("DOMAIN\\user:a:b"));
  BOOST_TEST(!aladdin->refresh_after_unauthorized({401, "Unauthorized", {}, {}}, ews::context()));
}

BOOST_AUTO_TEST_CASE(basic_refuses_bad_user_names) {
  BOOST_CHECK_THROW(ews::make_basic_credentials("a:b", ews::secret("p")), ews::error);
  BOOST_CHECK_THROW(ews::make_basic_credentials("", ews::secret("p")), ews::error);
  BOOST_CHECK_THROW(ews::make_basic_credentials("a\r\nb", ews::secret("p")), ews::error);
}

BOOST_AUTO_TEST_CASE(static_bearer_token_is_sent_and_never_refreshed) {
  auto p = ews::make_bearer_token(ews::secret("eyJ0eXAiOiJKV1QifQ.static"));
  BOOST_TEST(authorization_of(*p) == "Bearer eyJ0eXAiOiJKV1QifQ.static");
  BOOST_TEST(!p->refresh_after_unauthorized({401, "Unauthorized", {}, {}}, ews::context()));
  BOOST_CHECK_THROW(ews::make_bearer_token(ews::secret("")), ews::error);
  BOOST_CHECK_THROW(ews::make_bearer_token(ews::secret("two words")), ews::error);
  BOOST_CHECK_THROW(ews::make_bearer_token(ews::secret("line\n")), ews::error);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- cached bearer tokens --------------------------------------------------------

BOOST_AUTO_TEST_SUITE(cached_bearer)

BOOST_AUTO_TEST_CASE(refreshed_shortly_before_expiry_on_the_injected_clock) {
  auto time = std::make_shared<ews::manual_clock>();
  int calls = 0;
  ews::token_cache_options options;
  options.time = time;
  options.expiry_skew = 60s;
  auto p = ews::make_bearer_token(
      [&](const ews::context&) -> ews::result<ews::access_token> {
        ++calls;
        return ews::access_token{ews::secret("token-" + std::to_string(calls)), time->now() + 3600s};
      },
      options);
  BOOST_TEST(authorization_of(*p) == "Bearer token-1");
  time->advance(3600s - 61s);
  BOOST_TEST(authorization_of(*p) == "Bearer token-1");  // 61 s left: still outside the skew
  BOOST_TEST(calls == 1);
  time->advance(2s);  // 59 s left: inside the skew
  BOOST_TEST(authorization_of(*p) == "Bearer token-2");
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(a_token_without_expiry_is_kept_until_a_401) {
  int calls = 0;
  auto p = ews::make_bearer_token([&](const ews::context&) -> ews::result<ews::access_token> {
    ++calls;
    return ews::access_token{ews::secret("t" + std::to_string(calls)), std::nullopt};
  });
  BOOST_TEST(authorization_of(*p) == "Bearer t1");
  BOOST_TEST(authorization_of(*p) == "Bearer t1");
  BOOST_TEST(p->refresh_after_unauthorized({401, "Unauthorized", {}, {}}, ews::context()));
  BOOST_TEST(authorization_of(*p) == "Bearer t2");
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(a_failing_source_is_an_error_and_no_retry) {
  bool fail = false;
  auto p = ews::make_bearer_token([&](const ews::context&) -> ews::result<ews::access_token> {
    if (fail) return ews::make_error(errc::authentication, "refused");
    return ews::access_token{ews::secret("good"), std::nullopt};
  });
  BOOST_TEST(authorization_of(*p) == "Bearer good");
  fail = true;
  BOOST_TEST(!p->refresh_after_unauthorized({401, "Unauthorized", {}, {}}, ews::context()));
  ews::soap::http_request req;
  auto applied = p->apply(req, ews::context());
  BOOST_REQUIRE(!applied.has_value());
  BOOST_TEST(applied.error().kind() == errc::authentication);
  BOOST_TEST(applied.error().message == "refused");
}

BOOST_AUTO_TEST_CASE(concurrent_callers_share_one_refresh) {
  std::mutex m;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  std::atomic<int> calls{0};
  auto p = ews::make_bearer_token([&](const ews::context&) -> ews::result<ews::access_token> {
    ++calls;
    std::unique_lock<std::mutex> lock(m);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 10s, [&] { return release; });
    return ews::access_token{ews::secret("shared"), std::nullopt};
  });
  std::vector<std::string> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] {
      ews::soap::http_request req;
      if (p->apply(req, ews::context().with_timeout(20s))) {
        seen[i] = ews::soap::find_header(req.headers, "Authorization").value_or("");
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(m);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
    release = true;
    cv.notify_all();
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(calls.load() == 1);
  for (const auto& s : seen) BOOST_TEST(s == "Bearer shared");
}

BOOST_AUTO_TEST_CASE(a_waiter_gives_up_at_its_deadline) {
  std::mutex m;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  auto p = ews::make_bearer_token([&](const ews::context&) -> ews::result<ews::access_token> {
    std::unique_lock<std::mutex> lock(m);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 10s, [&] { return release; });
    return ews::access_token{ews::secret("late"), std::nullopt};
  });
  std::thread slow([&] {
    ews::soap::http_request req;
    (void)p->apply(req, ews::context());
  });
  {
    std::unique_lock<std::mutex> lock(m);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  ews::soap::http_request req;
  ews::context cancelled;
  cancelled.cancel();
  auto r = p->apply(req, cancelled);
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::cancelled);
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
    cv.notify_all();
  }
  slow.join();
}

BOOST_AUTO_TEST_SUITE_END()

// ---- client credentials against a token endpoint on loopback ---------------------------

BOOST_AUTO_TEST_SUITE(client_credentials)

namespace {

ews::client_credentials_options oauth_options(const rt::replay_server& server,
                                              std::shared_ptr<ews::soap::transport> http) {
  ews::client_credentials_options o;
  o.token_url = server.origin() + "/tenant-1/oauth2/v2.0/token";
  o.client_id = "11111111-2222-3333-4444-555555555555";
  o.client_secret = ews::secret("Sup3r~Secret+Value/=");
  o.http = std::move(http);
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(posts_the_form_and_caches_the_token_until_expiry) {
  rt::replay_server server;
  std::atomic<int> issued{0};
  server.on("", [&](const rt::received_request&) {
    const int n = ++issued;
    return json_response(200, "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
                              "\"access_token\":\"eyJ0eXAi.access-" + std::to_string(n) + "\"}");
  });
  auto time = std::make_shared<ews::manual_clock>();
  auto options = oauth_options(server, ews::soap::make_http_transport());
  options.cache.time = time;
  auto p = ews::make_client_credentials(options);

  BOOST_TEST(authorization_of(*p) == "Bearer eyJ0eXAi.access-1");
  BOOST_TEST(authorization_of(*p) == "Bearer eyJ0eXAi.access-1");
  BOOST_TEST(issued.load() == 1);

  const auto got = server.received();
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].method == "POST");
  BOOST_TEST(got[0].target == "/tenant-1/oauth2/v2.0/token");
  BOOST_TEST(ews::soap::find_header(got[0].headers, "Content-Type").value_or("") ==
             "application/x-www-form-urlencoded");
  BOOST_TEST(got[0].body ==
             "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
             "&client_secret=Sup3r~Secret%2BValue%2F%3D&scope=https%3A%2F%2Foutlook.office365.com%2F.default");

  time->advance(3599s - 300s + 1s);  // inside the default five-minute skew
  BOOST_TEST(authorization_of(*p) == "Bearer eyJ0eXAi.access-2");
  BOOST_TEST(p->refresh_after_unauthorized({401, "Unauthorized", {}, {}}, ews::context()));
  BOOST_TEST(authorization_of(*p) == "Bearer eyJ0eXAi.access-3");
  BOOST_TEST(issued.load() == 3);
}

BOOST_AUTO_TEST_CASE(expires_in_as_a_string_and_a_custom_scope) {
  rt::replay_server server;
  server.on("", [&](const rt::received_request&) {
    return json_response(200, "{\"token_type\":\"bearer\",\"expires_in\":\"3599\",\"access_token\":\"v1-token\"}");
  });
  auto options = oauth_options(server, ews::soap::make_http_transport());
  options.scope = "https://outlook.office.com/.default";
  auto p = ews::make_client_credentials(options);
  BOOST_TEST(authorization_of(*p) == "Bearer v1-token");
  BOOST_TEST(server.received().at(0).body.find("&scope=https%3A%2F%2Foutlook.office.com%2F.default") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_client_is_an_authentication_error_naming_the_code_not_the_secret) {
  rt::replay_server server;
  server.on("", [&](const rt::received_request&) {
    return json_response(401,
                         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
                         "secret provided. Ensure the secret being sent in the request is the client secret "
                         "value.\\r\\nTrace ID: 0c9c\",\"error_codes\":[7000215]}");
  });
  // error_codes is an array: the reader refuses nested values, and the
  // answer must still say what went wrong. Serve a flat one too.
  auto options = oauth_options(server, ews::soap::make_http_transport());
  auto p = ews::make_client_credentials(options);
  ews::soap::http_request req;
  auto r = p->apply(req, ews::context());
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(r.error().http_status == 401);
  BOOST_TEST(r.error().message.find("Sup3r") == std::string::npos);
  BOOST_TEST(r.error().message.find("Secret+Value") == std::string::npos);

  rt::replay_server flat;
  flat.on("", [&](const rt::received_request&) {
    return json_response(401,
                         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
                         "secret provided. Sent: Sup3r~Secret+Value/=\\r\\nTrace ID: 0c9c\"}");
  });
  auto q = ews::make_client_credentials(oauth_options(flat, ews::soap::make_http_transport()));
  auto e = q->apply(req, ews::context());
  BOOST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().kind() == errc::authentication);
  BOOST_TEST(e.error().message.find("invalid_client: AADSTS7000215: Invalid client secret provided.") !=
             std::string::npos, e.error().message);
  BOOST_TEST(e.error().message.find("Sup3r~Secret+Value/=") == std::string::npos, e.error().message);
  BOOST_TEST(e.error().message.find("Trace ID") == std::string::npos);  // first line only
  BOOST_TEST(!e.error().transient);
}

BOOST_AUTO_TEST_CASE(an_html_answer_is_an_authentication_error_naming_status_and_type) {
  rt::replay_server server;
  server.on("", [&](const rt::received_request&) {
    return json_response(502, "<html><body><h1>Bad Gateway</h1></body></html>", "text/html");
  });
  auto p = ews::make_client_credentials(oauth_options(server, ews::soap::make_http_transport()));
  ews::soap::http_request req;
  auto r = p->apply(req, ews::context());
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(r.error().message.find("answered HTTP 502 with text/html, not a JSON token response") !=
             std::string::npos, r.error().message);
  BOOST_TEST(r.error().transient);
}

BOOST_AUTO_TEST_CASE(a_200_without_a_token_or_of_another_type_is_refused) {
  rt::replay_server server;
  std::atomic<int> n{0};
  server.on("", [&](const rt::received_request&) {
    return ++n == 1 ? json_response(200, "{\"token_type\":\"Bearer\"}")
                    : json_response(200, "{\"token_type\":\"mac\",\"access_token\":\"x\"}");
  });
  auto p = ews::make_client_credentials(oauth_options(server, ews::soap::make_http_transport()));
  ews::soap::http_request req;
  auto first = p->apply(req, ews::context());
  BOOST_REQUIRE(!first.has_value());
  BOOST_TEST(first.error().message.find("without an access_token") != std::string::npos);
  auto second = p->apply(req, ews::context());
  BOOST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().message.find("of type mac, not Bearer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_unreachable_endpoint_keeps_the_transport_error) {
  std::string url;
  {
    rt::replay_server gone;
    url = gone.origin() + "/token";
  }
  ews::client_credentials_options o;
  o.token_url = url;
  o.client_id = "id";
  o.client_secret = ews::secret("s");
  o.http = ews::soap::make_http_transport();
  auto p = ews::make_client_credentials(o);
  ews::soap::http_request req;
  auto r = p->apply(req, ews::context());
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::connect_failed);
  BOOST_TEST(r.error().message.find("cannot reach the token endpoint") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_options_are_refused) {
  ews::client_credentials_options o;
  BOOST_CHECK_THROW(ews::make_client_credentials(o), ews::error);
  o.token_url = "https://login.example/token";
  o.client_id = "id";
  BOOST_CHECK_THROW(ews::make_client_credentials(o), ews::error);  // no secret
  o.client_secret = ews::secret("s");
  BOOST_CHECK_THROW(ews::make_client_credentials(o), ews::error);  // no transport
}

BOOST_AUTO_TEST_SUITE_END()

// ---- through service_client and the real transport ---------------------------------------

BOOST_AUTO_TEST_SUITE(service_client_with_providers)

BOOST_AUTO_TEST_CASE(a_401_twice_is_a_fatal_authentication_error_without_a_loop) {
  rt::replay_server server;
  std::atomic<int> tokens{0};
  server.on("", [&](const rt::received_request&) {
    return json_response(200, "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"tok-" +
                                  std::to_string(++tokens) + "\"}");
  });
  server.on("GetItem", [](const rt::received_request&) {
    rt::response r;
    r.status = 401;
    r.headers.push_back({"WWW-Authenticate", "Bearer error=\"invalid_token\""});
    return r;
  });
  auto http = std::shared_ptr<ews::soap::transport>(ews::soap::make_http_transport());
  ews::soap::service_options so;
  so.url = server.url();
  so.http = http;
  ews::client_credentials_options o;
  o.token_url = server.origin() + "/token";
  o.client_id = "app";
  o.client_secret = ews::secret("app-secret");
  o.http = http;
  so.credentials = ews::make_client_credentials(o);
  ews::soap::service_client client(so);
  auto r = client.call(ews_request_body, {}, ews::context().with_timeout(30s));
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(r.error().http_status == 401);
  BOOST_TEST(server.count("GetItem") == 2u);
  BOOST_TEST(tokens.load() == 2);  // the first token, and one refresh after the first 401
  std::vector<std::string> sent;
  for (const auto& q : server.received()) {
    if (q.operation == "GetItem") sent.push_back(ews::soap::find_header(q.headers, "Authorization").value_or(""));
  }
  BOOST_TEST(sent == (std::vector<std::string>{"Bearer tok-1", "Bearer tok-2"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(basic_is_not_retried_after_a_401) {
  rt::replay_server server;
  server.on("GetItem", [](const rt::received_request&) {
    rt::response r;
    r.status = 401;
    r.headers.push_back({"WWW-Authenticate", "Basic realm=\"ex\""});
    return r;
  });
  ews::soap::service_options so;
  so.url = server.url();
  so.http = ews::soap::make_http_transport();
  so.credentials = ews::make_basic_credentials("user@example.com", ews::secret("wrong"));
  auto r = ews::soap::service_client(so).call(ews_request_body, {}, ews::context().with_timeout(30s));
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(server.count("GetItem") == 1u);  // no second attempt with the same password
}

BOOST_AUTO_TEST_SUITE_END()

// ---- no secret in any log line at trace level -------------------------------------------

BOOST_AUTO_TEST_SUITE(no_secret_in_logs)

namespace {

struct captured_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  ews::logger logger() {
    return {[this](ews::log_level, std::string_view line) {
              std::lock_guard<std::mutex> lock(mutex);
              lines.emplace_back(line);
            },
            ews::log_level::trace};
  }
  // Every line checked against every form of every secret.
  void check_clean(const std::vector<std::string>& secrets) {
    std::lock_guard<std::mutex> lock(mutex);
    BOOST_TEST(!lines.empty());
    for (const auto& line : lines) {
      for (const auto& s : secrets) BOOST_TEST(line.find(s) == std::string::npos, "secret in: " << line);
    }
  }
};

// The secret, its base64 (with and without a prefix a header may add), its
// form encoding.
std::vector<std::string> forms(const std::string& s, const std::string& basic_user = {}) {
  std::vector<std::string> out{s, detail::base64_encode(s), detail::form_encode(s)};
  if (!basic_user.empty()) out.push_back(detail::base64_encode(basic_user + ":" + s));
  return out;
}

ews::soap::service_client traced_client(const rt::replay_server& server, captured_log& log,
                                        std::shared_ptr<ews::soap::transport> http,
                                        std::shared_ptr<ews::credential_provider> credentials) {
  ews::soap::service_options so;
  so.url = server.url();
  so.http = std::move(http);
  so.credentials = std::move(credentials);
  so.log = log.logger();
  return ews::soap::service_client(so);
}

std::shared_ptr<ews::soap::transport> traced_transport(captured_log& log) {
  ews::soap::http_transport_options o;
  o.log = log.logger();
  return ews::soap::make_http_transport(o);
}

}  // namespace

BOOST_AUTO_TEST_CASE(basic_password_never_logged) {
  rt::replay_server server;
  server.on("GetItem", [](const rt::received_request&) { return rt::soap_response(ews_ok_body); });
  captured_log log;
  const std::string password = "Pa55w0rd-basic-XYZ";
  auto client = traced_client(server, log, traced_transport(log),
                              ews::make_basic_credentials("alice@example.com", ews::secret(password)));
  BOOST_REQUIRE(client.call(ews_request_body, {}, ews::context().with_timeout(30s)).has_value());
  log.check_clean(forms(password, "alice@example.com"));
}

BOOST_AUTO_TEST_CASE(static_bearer_token_never_logged) {
  rt::replay_server server;
  server.on("GetItem", [](const rt::received_request&) { return rt::soap_response(ews_ok_body); });
  captured_log log;
  const std::string token = "eyJhbGciOi.static-bearer-token-XYZ";
  auto client = traced_client(server, log, traced_transport(log), ews::make_bearer_token(ews::secret(token)));
  BOOST_REQUIRE(client.call(ews_request_body, {}, ews::context().with_timeout(30s)).has_value());
  log.check_clean(forms(token));
}

BOOST_AUTO_TEST_CASE(client_secret_and_access_tokens_never_logged_also_after_a_401) {
  rt::replay_server server;
  std::atomic<int> n{0};
  server.on("", [&](const rt::received_request&) {
    return json_response(200, "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"eyJ-access-" +
                                  std::to_string(++n) + "-XYZ\",\"refresh_token\":\"refresh-XYZ\"}");
  });
  std::atomic<int> calls{0};
  server.on("GetItem", [&](const rt::received_request&) {
    if (++calls == 1) {
      rt::response r;
      r.status = 401;
      r.headers.push_back({"WWW-Authenticate", "Bearer error=\"invalid_token\""});
      return r;
    }
    return rt::soap_response(ews_ok_body);
  });
  captured_log log;
  auto http = traced_transport(log);
  ews::client_credentials_options o;
  o.token_url = server.origin() + "/token";
  o.client_id = "app-id";
  o.client_secret = ews::secret("client~secret+XYZ/=");
  o.http = http;
  o.cache.log = log.logger();
  auto client = traced_client(server, log, http, ews::make_client_credentials(o));
  BOOST_REQUIRE(client.call(ews_request_body, {}, ews::context().with_timeout(30s)).has_value());
  BOOST_TEST(n.load() == 2);
  std::vector<std::string> secrets = forms("client~secret+XYZ/=");
  for (const char* t : {"eyJ-access-1-XYZ", "eyJ-access-2-XYZ", "refresh-XYZ"}) {
    for (auto& f : forms(t)) secrets.push_back(f);
  }
  log.check_clean(secrets);
}

BOOST_AUTO_TEST_SUITE_END()
