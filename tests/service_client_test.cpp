// service_client over the scripted fake transport: credentials, the one 401
// refresh, faults from 500 bodies, throttling, redirects.

#include <ews/soap/service_client.hpp>

#include "fake_transport.hpp"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using ews::errc;
using ews::soap::http_headers;
using ews::test::fake_transport;

namespace {

std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(EWS_TEST_DIR) + "/fixtures/wire/" + relative, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "missing fixture " << relative);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Bearer tokens "token-1", "token-2", ...; refresh succeeds `refreshable` times.
class counting_credentials final : public ews::credential_provider {
 public:
  explicit counting_credentials(int refreshable) : refreshable_(refreshable) {}
  ews::status apply(ews::soap::http_request& request, const ews::context&) override {
    ++applied;
    request.headers.push_back({"Authorization", "Bearer token-" + std::to_string(generation_)});
    return ews::ok;
  }
  bool refresh_after_unauthorized(const ews::soap::http_response_head& challenge, const ews::context&) override {
    ++refreshes;
    last_challenge_status = challenge.status;
    if (refreshable_ == 0) return false;
    --refreshable_;
    ++generation_;
    return true;
  }
  int applied = 0;
  int refreshes = 0;
  int last_challenge_status = 0;

 private:
  int refreshable_;
  int generation_ = 1;
};

class failing_credentials final : public ews::credential_provider {
 public:
  ews::status apply(ews::soap::http_request&, const ews::context&) override {
    return ews::make_error(errc::authentication, "token endpoint refused the client secret");
  }
  bool refresh_after_unauthorized(const ews::soap::http_response_head&, const ews::context&) override { return false; }
};

struct fixture {
  std::shared_ptr<fake_transport> http = std::make_shared<fake_transport>();
  std::shared_ptr<counting_credentials> creds = std::make_shared<counting_credentials>(1);
  ews::soap::service_client client{ews::soap::service_options{
      "https://mail.example.com/EWS/Exchange.asmx", http, creds, 30s, {}}};
  const std::string envelope = "<soap:Envelope>request</soap:Envelope>";
};

const std::string ok_body = "<s:Envelope>ok</s:Envelope>";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(service_client_tests, fixture)

BOOST_AUTO_TEST_CASE(posts_the_envelope_with_credentials_and_extra_headers) {
  http->respond(200, ok_body);
  auto r = client.call(envelope, {{"X-AnchorMailbox", "user@example.com"}}, ews::context{});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == ok_body);
  const auto sent = http->last_request();
  BOOST_TEST(sent.method == "POST");
  BOOST_TEST(sent.url == "https://mail.example.com/EWS/Exchange.asmx");
  BOOST_TEST(sent.body == envelope);
  BOOST_TEST(ews::soap::find_header(sent.headers, "content-type").value_or("") == "text/xml; charset=utf-8");
  BOOST_TEST(ews::soap::find_header(sent.headers, "Authorization").value_or("") == "Bearer token-1");
  BOOST_TEST(ews::soap::find_header(sent.headers, "X-AnchorMailbox").value_or("") == "user@example.com");
  BOOST_TEST(!ews::soap::find_header(sent.headers, "SOAPAction"));
  BOOST_TEST(sent.inactivity_timeout.count() == 30000);
}

BOOST_AUTO_TEST_CASE(a_401_refreshes_once_then_succeeds_with_the_new_token) {
  http->respond(401, "", {{"WWW-Authenticate", "Bearer"}}).respond(200, ok_body);
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(r);
  BOOST_TEST(creds->refreshes == 1);
  BOOST_TEST(creds->last_challenge_status == 401);
  const auto sent = http->requests();
  BOOST_REQUIRE(sent.size() == 2u);
  BOOST_TEST(ews::soap::find_header(sent[0].headers, "Authorization").value_or("") == "Bearer token-1");
  // Exactly one Authorization header on the retry: apply() starts from a fresh request.
  int auth_headers = 0;
  for (const auto& h : sent[1].headers) auth_headers += h.name == "Authorization";
  BOOST_TEST(auth_headers == 1);
  BOOST_TEST(ews::soap::find_header(sent[1].headers, "Authorization").value_or("") == "Bearer token-2");
}

BOOST_AUTO_TEST_CASE(a_second_401_is_an_authentication_error_and_no_loop) {
  auto always = std::make_shared<counting_credentials>(100);  // would refresh forever if asked
  ews::soap::service_client c{ews::soap::service_options{"https://mail.example.com/EWS/Exchange.asmx", http, always,
                                                         30s, {}}};
  http->set_fallback([](const ews::soap::http_request&) -> ews::result<ews::soap::http_response> {
    return ews::test::make_response(401, "", {{"X-MS-Diagnostics", "2000001;reason=\"The token has expired\""},
                                              {"request-id", "b2f1c1a0-0000-4000-8000-000000000001"}});
  });
  auto r = c.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(r.error().http_status == 401);
  BOOST_TEST(r.error().request_id == "b2f1c1a0-0000-4000-8000-000000000001");
  BOOST_TEST(r.error().message.find("token has expired") != std::string::npos);
  BOOST_TEST(http->request_count() == 2u);
  BOOST_TEST(always->refreshes == 1);
}

BOOST_AUTO_TEST_CASE(a_401_without_a_refresh_is_final_at_once) {
  auto none = std::make_shared<counting_credentials>(0);
  ews::soap::service_client c{ews::soap::service_options{"https://mail.example.com/EWS/Exchange.asmx", http, none,
                                                         30s, {}}};
  http->respond(401);
  auto r = c.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(http->request_count() == 1u);
  BOOST_TEST(none->refreshes == 1);
}

BOOST_AUTO_TEST_CASE(credentials_that_cannot_be_obtained_send_nothing) {
  ews::soap::service_client c{ews::soap::service_options{"https://mail.example.com/EWS/Exchange.asmx", http,
                                                         std::make_shared<failing_credentials>(), 30s, {}}};
  auto r = c.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::authentication);
  BOOST_TEST(http->request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(no_credentials_provider_sends_no_authorization) {
  ews::soap::service_client c{
      ews::soap::service_options{"https://mail.example.com/EWS/Exchange.asmx", http, nullptr, 30s, {}}};
  http->respond(200, ok_body);
  BOOST_REQUIRE(c.call(envelope, {}, ews::context{}));
  BOOST_TEST(!ews::soap::find_header(http->last_request().headers, "Authorization"));
}

BOOST_AUTO_TEST_CASE(a_500_with_a_soap_fault_is_the_fault_with_its_response_code) {
  const auto body = read_fixture(
      "gnome-evolution-ews/extracted/Exchange2010_SP2/create_folder_with_invalid_distinguished_parent_id.02-response-500.xml");
  http->respond(500, body, {{"request-id", "5c1e8b9e-1111-4222-8333-444455556666"}});
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::soap_fault);
  BOOST_TEST(r.error().response_code_text == "ErrorSchemaValidation");
  BOOST_TEST(r.error().http_status == 500);
  BOOST_TEST(r.error().request_id == "5c1e8b9e-1111-4222-8333-444455556666");
}

BOOST_AUTO_TEST_CASE(error_server_busy_fault_is_throttled_with_back_off) {
  // The recorded fault (Exchange 2016, kde-akonadi-ews) plus the
  // BackOffMilliseconds value Exchange adds when it names a wait.
  std::string body = read_fixture("kde-akonadi-ews/errorserverbusy.xml");
  const std::string anchor = "<t:Value Name=\"Policy\">";
  const auto at = body.find(anchor);
  BOOST_REQUIRE(at != std::string::npos);
  body.insert(at, "<t:Value Name=\"BackOffMilliseconds\">29738</t:Value>\n          ");
  http->respond(500, body);
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::throttled);
  BOOST_TEST(r.error().response_code_text == "ErrorServerBusy");
  BOOST_REQUIRE(r.error().back_off.has_value());
  BOOST_TEST(r.error().back_off->count() == 29738);
  BOOST_TEST(r.error().transient);
}

BOOST_AUTO_TEST_CASE(error_server_busy_without_back_off_takes_retry_after) {
  http->respond(500, read_fixture("kde-akonadi-ews/errorserverbusy.xml"), {{"Retry-After", "7"}});
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::throttled);
  BOOST_REQUIRE(r.error().back_off.has_value());
  BOOST_TEST(r.error().back_off->count() == 7000);
}

BOOST_AUTO_TEST_CASE(a_503_with_retry_after_is_throttled_with_back_off) {
  http->respond(503, "", {{"Retry-After", "120"}, {"X-Request-Id", "req-42"}});
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::throttled);
  BOOST_TEST(r.error().http_status == 503);
  BOOST_REQUIRE(r.error().back_off.has_value());
  BOOST_TEST(r.error().back_off->count() == 120000);
  BOOST_TEST(r.error().request_id == "req-42");
  BOOST_TEST(r.error().transient);
  BOOST_TEST(http->request_count() == 1u);  // the caller owns the retry policy
}

BOOST_AUTO_TEST_CASE(a_429_with_an_http_date_is_throttled) {
  http->respond(429, "", {{"Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT"}});
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::throttled);
  BOOST_REQUIRE(r.error().back_off.has_value());
  BOOST_TEST(r.error().back_off->count() == 24 * 3600 * 1000);  // clamped to one day
}

BOOST_AUTO_TEST_CASE(a_redirect_is_refused_naming_the_location) {
  http->respond(302, "", {{"Location", "https://other.example.com/EWS/Exchange.asmx"}});
  auto r = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().kind() == errc::redirect);
  BOOST_TEST(r.error().message.find("https://other.example.com/EWS/Exchange.asmx") != std::string::npos);
  BOOST_TEST(http->request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(other_statuses_and_transport_errors_pass_through) {
  http->respond(404, "not here").fail(ews::make_error(errc::connection_reset, "reset", true));
  auto a = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!a);
  BOOST_TEST(a.error().kind() == errc::http_status);
  BOOST_TEST(a.error().http_status == 404);
  auto b = client.call(envelope, {}, ews::context{});
  BOOST_REQUIRE(!b);
  BOOST_TEST(b.error().kind() == errc::connection_reset);
}

BOOST_AUTO_TEST_CASE(open_stream_applies_credentials_and_hands_over_the_raw_stream) {
  struct recorder final : ews::soap::stream_observer {
    void on_head(const ews::soap::http_response_head& h) override { status = h.status; }
    bool on_data(std::string_view b) override {
      data += b;
      return true;
    }
    void on_end(const std::optional<ews::error_info>& e) override { error = e; }
    int status = 0;
    std::string data;
    std::optional<ews::error_info> error;
  };
  auto scripted = http->expect_stream(200);
  auto obs = std::make_shared<recorder>();
  auto s = client.open_stream(envelope, {{"Cookie", "X-BackEndOverrideCookie=abc"}}, 90s, obs, ews::context{});
  BOOST_REQUIRE(s);
  scripted->push("<a/>");
  scripted->push("<b/>");
  scripted->end();
  BOOST_REQUIRE(scripted->wait_ended());
  BOOST_TEST(obs->status == 200);
  BOOST_TEST(obs->data == "<a/><b/>");
  BOOST_TEST(!obs->error);
  const auto sent = scripted->request();
  BOOST_TEST(sent.inactivity_timeout.count() == 90000);
  BOOST_TEST(ews::soap::find_header(sent.headers, "Authorization").value_or("") == "Bearer token-1");
  BOOST_TEST(ews::soap::find_header(sent.headers, "Cookie").value_or("") == "X-BackEndOverrideCookie=abc");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the fake itself: back-pressure and cancel behave like the real transport

BOOST_AUTO_TEST_CASE(fake_stream_pauses_on_false_and_resumes) {
  struct slow final : ews::soap::stream_observer {
    void on_head(const ews::soap::http_response_head&) override {}
    bool on_data(std::string_view b) override {
      data += b;
      return data.size() < 2;
    }
    void on_end(const std::optional<ews::error_info>& e) override { error = e; }
    std::string data;
    std::optional<ews::error_info> error;
  };
  fake_transport http;
  auto scripted = http.expect_stream();
  auto obs = std::make_shared<slow>();
  auto s = http.open_stream({}, obs);
  scripted->push("a");
  scripted->push("b");
  scripted->push("c");
  BOOST_TEST(!scripted->wait_delivered(2s));  // paused with "c" left
  BOOST_TEST(scripted->paused());
  BOOST_TEST(obs->data == "ab");
  s->resume();
  BOOST_TEST(scripted->wait_delivered());
  BOOST_TEST(obs->data == "abc");
  s.reset();  // cancels and waits for on_end
  BOOST_TEST(scripted->ended());
  BOOST_REQUIRE(obs->error.has_value());
  BOOST_TEST(obs->error->kind() == errc::cancelled);
}
