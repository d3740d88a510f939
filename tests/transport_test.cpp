// Both HTTP engines (cpprestsdk and Boost.Beast/Asio) against the replay
// server (real HTTP/1.1 and TLS on 127.0.0.1): every engine-level test runs
// once per engine, so both keep the same contract; then what only the asio
// engine does. Plus the private helpers: cookies, URLs, Retry-After,
// redaction.

#include <ews/soap/transport.hpp>
#include <ews/testing/replay_server.hpp>

#include "http/cookies.hpp"
#include "http/redact.hpp"
#include "http/retry_after.hpp"
#include "http/url.hpp"
#include "test_certificates.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <strings.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <condition_variable>
#include <dirent.h>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using ews::errc;
namespace soap = ews::soap;
namespace rt = ews::testing;
using steady = std::chrono::steady_clock;

namespace ews::soap {
// Names the engine in data test case logs.
inline std::ostream& operator<<(std::ostream& os, http_engine e) {
  return os << (e == http_engine::asio ? "asio" : "cpprestsdk");
}
}  // namespace ews::soap

namespace {

// Every engine-level test runs once per engine.
const soap::http_engine engines[] = {soap::http_engine::cpprestsdk, soap::http_engine::asio};

std::unique_ptr<soap::transport> make_transport(soap::http_engine engine, soap::http_transport_options options = {}) {
  options.engine = engine;
  return soap::make_http_transport(std::move(options));
}

const std::string get_events_body =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope "
    "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"><soap:Body>"
    "<m:GetStreamingEvents/></soap:Body></soap:Envelope>";

std::string envelope(int n) {
  return "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body><n>" + std::to_string(n) +
         "</n></Body></Envelope>";
}

soap::http_request post(const std::string& url, std::chrono::milliseconds inactivity = 30s) {
  soap::http_request r;
  r.url = url;
  r.headers = {{"Content-Type", "text/xml; charset=utf-8"}};
  r.body = get_events_body;
  r.inactivity_timeout = inactivity;
  return r;
}

// Records everything a stream reports; tests wait on conditions, never sleep.
class recorder final : public soap::stream_observer {
 public:
  explicit recorder(std::size_t pause_after_pieces = SIZE_MAX) : pause_after_(pause_after_pieces) {}

  void on_head(const soap::http_response_head& head) override {
    std::lock_guard<std::mutex> lock(mutex_);
    head_ = head;
    changed_.notify_all();
  }
  bool on_data(std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    data_ += bytes;
    arrivals_.push_back(steady::now());
    ++pieces_;
    changed_.notify_all();
    return pieces_ != pause_after_;  // pauses once
  }
  void on_end(const std::optional<ews::error_info>& error) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++ends_;
    error_ = error;
    ended_at_ = steady::now();
    changed_.notify_all();
  }

  bool wait_data_contains(const std::string& s, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return data_.find(s) != std::string::npos; });
  }
  bool wait_end(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ends_ > 0; });
  }
  bool wait_head(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return head_.has_value(); });
  }
  std::string data() {
    std::lock_guard<std::mutex> lock(mutex_);
    return data_;
  }
  std::optional<ews::error_info> error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }
  int ends() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ends_;
  }
  std::size_t pieces() {
    std::lock_guard<std::mutex> lock(mutex_);
    return pieces_;
  }
  std::optional<soap::http_response_head> head() {
    std::lock_guard<std::mutex> lock(mutex_);
    return head_;
  }
  steady::time_point ended_at() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ended_at_;
  }
  std::vector<steady::time_point> arrivals() {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t pause_after_;
  std::optional<soap::http_response_head> head_;
  std::string data_;
  std::vector<steady::time_point> arrivals_;
  std::size_t pieces_ = 0;
  int ends_ = 0;
  std::optional<ews::error_info> error_;
  steady::time_point ended_at_;
};

errc kind_of(const std::optional<ews::error_info>& e) { return e ? e->kind() : errc{}; }

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

rt::exchange answer(rt::response r) {
  rt::exchange e;
  e.respond = std::move(r);
  return e;
}

}  // namespace

// ---- private helpers ------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(helpers)

BOOST_AUTO_TEST_CASE(set_cookie_values_joined_with_commas_and_expires_dates) {
  // cpprestsdk joins repeated Set-Cookie headers with ", ".
  const auto cookies = soap::detail::parse_set_cookie(
      "X-BackEndOverrideCookie=MBX01.contoso.com~1942062621; expires=Wed, 21 Oct 2026 07:28:00 GMT; path=/EWS; "
      "secure; HttpOnly, exchangecookie=8a7b6c5d; expires=Thu, 22-Oct-26 07:28:00 GMT; path=/, "
      "plain=\"quoted value\", broken-no-equals; path=/, =nameless");
  BOOST_REQUIRE(cookies.size() == 3u);
  BOOST_TEST(cookies[0].name == "X-BackEndOverrideCookie");
  BOOST_TEST(cookies[0].value == "MBX01.contoso.com~1942062621");
  BOOST_TEST(cookies[1].name == "exchangecookie");
  BOOST_TEST(cookies[1].value == "8a7b6c5d");
  BOOST_TEST(cookies[2].name == "plain");
  BOOST_TEST(cookies[2].value == "quoted value");
}

BOOST_AUTO_TEST_CASE(urls_and_loopback) {
  using soap::detail::check_url;
  using soap::detail::is_loopback_host;
  BOOST_TEST(is_loopback_host("127.0.0.1"));
  BOOST_TEST(is_loopback_host("127.255.3.4"));
  BOOST_TEST(is_loopback_host("::1"));
  BOOST_TEST(is_loopback_host("[::1]"));
  BOOST_TEST(is_loopback_host("LocalHost"));
  BOOST_TEST(!is_loopback_host("128.0.0.1"));
  BOOST_TEST(!is_loopback_host("127.0.0.1.evil.example"));
  BOOST_TEST(!is_loopback_host("localhost.evil.example"));
  BOOST_TEST(!is_loopback_host("10.0.0.1"));

  auto u = check_url("https://Mail.Example.com/EWS/Exchange.asmx?x=1#frag", false);
  BOOST_REQUIRE(u);
  BOOST_TEST(u->host == "mail.example.com");
  BOOST_TEST(u->port == 443);
  BOOST_TEST(u->target == "/EWS/Exchange.asmx?x=1");
  BOOST_TEST(u->origin() == "https://mail.example.com:443");
  BOOST_TEST(u->authority() == "mail.example.com");  // the Host header: no default port
  auto v6 = check_url("http://[::1]:8080", false);
  BOOST_REQUIRE(v6);
  BOOST_TEST(v6->origin() == "http://[::1]:8080");
  BOOST_TEST(v6->authority() == "[::1]:8080");
  BOOST_TEST(v6->target == "/");

  BOOST_TEST(check_url("http://mail.example.com/EWS/Exchange.asmx", false).error().kind() == errc::insecure_url);
  BOOST_TEST(check_url("http://mail.example.com/EWS/Exchange.asmx", true).has_value());
  BOOST_TEST(check_url("http://127.0.0.1:1/x", false).has_value());
  BOOST_TEST(check_url("https://user:pw@mail.example.com/", false).error().kind() == errc::invalid_argument);
  BOOST_TEST(check_url("ftp://mail.example.com/", false).error().kind() == errc::invalid_argument);
  BOOST_TEST(check_url("https://mail.example.com:99999/", false).error().kind() == errc::invalid_argument);
  BOOST_TEST(check_url("https:///nohost", false).error().kind() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(retry_after_seconds_and_dates) {
  using soap::detail::parse_retry_after;
  // 2026-11-22 20:00:00 UTC
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1795377600));
  BOOST_TEST(parse_retry_after("120", now)->count() == 120000);
  BOOST_TEST(parse_retry_after(" 0 ", now)->count() == 0);
  BOOST_TEST(parse_retry_after("Sun, 22 Nov 2026 20:00:30 GMT", now)->count() == 30000);
  BOOST_TEST(parse_retry_after("Sunday, 22-Nov-26 20:01:00 GMT", now)->count() == 60000);
  BOOST_TEST(parse_retry_after("Sun Nov 22 20:00:05 2026", now)->count() == 5000);
  BOOST_TEST(parse_retry_after("Sat, 21 Nov 2026 20:00:00 GMT", now)->count() == 0);  // past
  BOOST_TEST(parse_retry_after("99999999999999999999", now)->count() == 86400000);    // clamped
  BOOST_TEST(!parse_retry_after("soon", now));
  BOOST_TEST(!parse_retry_after("12s", now));
  BOOST_TEST(!parse_retry_after("", now));
}

BOOST_AUTO_TEST_CASE(traces_carry_no_secrets) {
  soap::http_request r;
  r.url = "https://login.example.com/token?client_secret=s3cr3t-q";
  r.headers = {{"Authorization", "Bearer eyJhbGciOi.secret.sig"},
               {"Cookie", "X-BackEndOverrideCookie=MBX01~123"},
               {"X-AnchorMailbox", "user@example.com"}};
  r.body = "grant_type=refresh_token&refresh_token=0.AAAA-refresh&client_secret=s3cr3t-b&password=hunter2"
           "\n{\"access_token\": \"at-json\", \"refresh_token\":\"rt-json\"}"
           "\n<t:Password>xml-pass</t:Password>";
  const std::string trace = soap::detail::trace_request(r);
  for (const char* secret : {"s3cr3t-q", "eyJhbGciOi", "MBX01~123", "0.AAAA-refresh", "s3cr3t-b", "hunter2",
                             "at-json", "rt-json", "xml-pass"}) {
    BOOST_TEST(trace.find(secret) == std::string::npos, "leaked " << secret << " in\n" << trace);
  }
  BOOST_TEST(trace.find("Authorization: Bearer ***") != std::string::npos);
  BOOST_TEST(trace.find("Cookie: X-BackEndOverrideCookie=***") != std::string::npos);
  BOOST_TEST(trace.find("X-AnchorMailbox: user@example.com") != std::string::npos);
  BOOST_TEST(trace.find("grant_type=refresh_token") != std::string::npos);  // the word alone is no secret

  soap::http_response_head head;
  head.status = 200;
  head.headers = {{"Set-Cookie", "exchangecookie=abc123; path=/"}};
  BOOST_TEST(soap::detail::trace_response(head, "").find("abc123") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_errors_carry_what_an_operator_needs) {
  soap::http_response_head h;
  h.status = 503;
  h.reason = "Service Unavailable";
  h.headers = {{"retry-after", "30"}, {"request-id", "abc-123"}};
  auto e = soap::http_status_error(h);
  BOOST_TEST(e.kind() == errc::throttled);
  BOOST_TEST(e.back_off->count() == 30000);
  BOOST_TEST(e.request_id == "abc-123");
  BOOST_TEST(e.transient);
  BOOST_TEST(e.message.find("Service Unavailable") != std::string::npos);

  h = {};
  h.status = 301;
  h.headers = {{"Location", "https://elsewhere.example/EWS"}};
  e = soap::http_status_error(h);
  BOOST_TEST(e.kind() == errc::redirect);
  BOOST_TEST(e.message.find("https://elsewhere.example/EWS") != std::string::npos);

  h = {};
  h.status = 400;
  h.headers = {{"X-Request-Id", "xyz"}};
  e = soap::http_status_error(h);
  BOOST_TEST(e.kind() == errc::http_status);
  BOOST_TEST(e.http_status == 400);
  BOOST_TEST(e.request_id == "xyz");
  BOOST_TEST(!e.transient);
  BOOST_TEST(soap::find_header(h.headers, "x-request-ID").value_or("") == "xyz");
  BOOST_TEST(!soap::find_header(h.headers, "X-Request"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- over the wire ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(wire)

BOOST_DATA_TEST_CASE(send_returns_status_headers_cookies_and_body, engines, engine) {
  rt::response r = rt::soap_response(envelope(1));
  r.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=MBX01~1942062621; expires=Wed, 21 Oct 2026 07:28:00 "
                                     "GMT; path=/EWS; secure"});
  r.headers.push_back({"Set-Cookie", "exchangecookie=8a7b6c5d; expires=Thu, 22 Oct 2026 07:28:00 GMT; path=/"});
  r.headers.push_back({"request-id", "0f0e0d0c"});
  rt::replay_server server;
  server.add(answer(r));
  auto http = make_transport(engine);
  auto req = post(server.url());
  req.headers.push_back({"Authorization", "Bearer abc"});
  req.headers.push_back({"Host", "evil.example"});  // the engine owns Host
  auto res = http->send(req, ews::context{});
  BOOST_REQUIRE_MESSAGE(res, (res ? "" : res.error().message));
  BOOST_TEST(res->head.status == 200);
  BOOST_TEST(res->body == envelope(1));
  BOOST_TEST(soap::find_header(res->head.headers, "Request-Id").value_or("") == "0f0e0d0c");
  BOOST_REQUIRE(res->head.cookies.size() == 2u);
  BOOST_TEST(res->head.cookies[0].name == "X-BackEndOverrideCookie");
  BOOST_TEST(res->head.cookies[0].value == "MBX01~1942062621");
  BOOST_TEST(res->head.cookies[1].name == "exchangecookie");
  BOOST_TEST(res->head.cookies[1].value == "8a7b6c5d");

  const auto got = server.received();
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].method == "POST");
  BOOST_TEST(got[0].target == "/EWS/Exchange.asmx");
  BOOST_TEST(got[0].body == get_events_body);
  BOOST_TEST(got[0].operation == "GetStreamingEvents");
  BOOST_TEST(soap::find_header(got[0].headers, "Content-Type").value_or("") == "text/xml; charset=utf-8");
  BOOST_TEST(soap::find_header(got[0].headers, "Authorization").value_or("") == "Bearer abc");
  BOOST_TEST(soap::find_header(got[0].headers, "Host").value_or("") ==
             "127.0.0.1:" + std::to_string(server.port()));
}

BOOST_DATA_TEST_CASE(each_piece_is_delivered_before_the_next_chunk_is_sent, engines, engine) {
  // Chunk k+1 waits for a gate the test opens only after chunk k was handed
  // over, so any buffering in the transport would hang this test.
  constexpr int n = 20;
  std::vector<rt::chunk> chunks;
  for (int i = 0; i < n; ++i) {
    rt::chunk c;
    c.data = envelope(i);
    if (i > 0) c.gate = "g" + std::to_string(i);
    chunks.push_back(c);
  }
  rt::replay_server server;
  server.add(answer(rt::streaming_response(chunks)));
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>();
  auto stream = http->open_stream(post(server.url()), obs);
  std::vector<double> latency_ms;
  for (int i = 0; i < n; ++i) {
    if (i > 0) server.release("g" + std::to_string(i));
    const auto released = steady::now();
    BOOST_REQUIRE_MESSAGE(obs->wait_data_contains(envelope(i)), "envelope " << i << " not delivered");
    // Nothing of the next one can have arrived: it has not been sent.
    if (i + 1 < n) BOOST_TEST(obs->data().find(envelope(i + 1)) == std::string::npos);
    if (i > 0) latency_ms.push_back(ms(obs->arrivals().back() - released));
  }
  BOOST_REQUIRE(obs->wait_end());
  BOOST_TEST(!obs->error());
  BOOST_TEST(obs->head()->status == 200);
  std::sort(latency_ms.begin(), latency_ms.end());
  BOOST_TEST_MESSAGE("gate-release to on_data latency: median " << latency_ms[latency_ms.size() / 2] << " ms, max "
                                                                 << latency_ms.back() << " ms");
}

BOOST_DATA_TEST_CASE(cancel_during_a_silent_stream_returns_within_100ms, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold)));
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>();
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  const auto t0 = steady::now();
  stream->cancel();
  BOOST_REQUIRE(obs->wait_end(1s));
  const auto elapsed = obs->ended_at() - t0;
  BOOST_TEST(kind_of(obs->error()) == errc::cancelled);
  BOOST_TEST(ms(elapsed) < 100.0);
  BOOST_TEST_MESSAGE("cancel to on_end: " << ms(elapsed) << " ms");
  stream.reset();
  BOOST_TEST(obs->ends() == 1);
  BOOST_TEST(server.wait_idle(5s));  // the socket is really closed
}

BOOST_DATA_TEST_CASE(destroying_a_silent_stream_cancels_and_returns_promptly, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold)));
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>();
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  const auto t0 = steady::now();
  stream.reset();
  BOOST_TEST(ms(steady::now() - t0) < 100.0);
  BOOST_TEST(obs->ends() == 1);  // on_end came before the destructor returned
  BOOST_TEST(kind_of(obs->error()) == errc::cancelled);
}

BOOST_DATA_TEST_CASE(back_pressure_pauses_until_resume, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false},
                                            rt::chunk{envelope(2), 0ms, "two", false},
                                            rt::chunk{envelope(3), 0ms, "", false}})));
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>(1);  // pauses after the first piece
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  server.release("two");
  BOOST_REQUIRE(server.wait_for_responses("", 1, 5s));  // everything is on the wire
  BOOST_TEST(!obs->wait_data_contains(envelope(2), 200ms));  // but not handed over
  BOOST_TEST(obs->pieces() == 1u);
  stream->resume();
  BOOST_REQUIRE(obs->wait_end());
  BOOST_TEST(obs->data() == envelope(1) + envelope(2) + envelope(3));
  BOOST_TEST(!obs->error());
}

BOOST_DATA_TEST_CASE(cancel_while_paused_ends_the_stream, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold)));
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>(1);
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  stream->cancel();
  BOOST_REQUIRE(obs->wait_end(1s));
  BOOST_TEST(kind_of(obs->error()) == errc::cancelled);
}

BOOST_DATA_TEST_CASE(streams_and_requests_use_separate_connections, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold)));
  server.on("", [](const rt::received_request&) { return rt::soap_response(envelope(9)); });
  auto http = make_transport(engine);
  auto obs = std::make_shared<recorder>();
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  auto res = http->send(post(server.url(), 5s), ews::context{});
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == envelope(9));
  BOOST_TEST(server.connections_accepted() == 2u);
}

BOOST_DATA_TEST_CASE(faults_map_to_typed_errors, engines, engine) {
  auto http = make_transport(engine);
  auto stream_error = [&](rt::response r, std::chrono::milliseconds inactivity = 30s) {
    rt::replay_server server;
    server.add(answer(std::move(r)));
    auto obs = std::make_shared<recorder>();
    auto s = http->open_stream(post(server.url(), inactivity), obs);
    BOOST_REQUIRE(obs->wait_end(10s));
    return obs->error();
  };

  // The server closes without the final chunk, mid-stream.
  auto closed = stream_error(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::close));
  BOOST_TEST(kind_of(closed) == errc::closed_mid_body, (closed ? closed->message : "no error"));

  // RST after some bytes of a body.
  rt::response reset = rt::soap_response(std::string(4000, 'x'));
  reset.reset_after_bytes = 300;
  auto was_reset = stream_error(reset);
  BOOST_TEST(kind_of(was_reset) == errc::connection_reset, (was_reset ? was_reset->message : "no error"));
  BOOST_TEST_MESSAGE("reset after 300 bytes maps to " << (was_reset ? was_reset->code_name() + ": " + was_reset->message : "nothing"));

  // Silence longer than the inactivity timeout.
  auto silent = stream_error(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false},
                                                     rt::chunk{envelope(2), 5s, "", false}}),
                             300ms);
  BOOST_TEST(kind_of(silent) == errc::timeout, (silent ? silent->message : "no error"));

  // Not HTTP at all.
  rt::response garbage;
  garbage.raw = std::string("\x16\x03\x01 this is not HTTP\r\n\r\n");
  auto bad = stream_error(garbage);
  BOOST_TEST(kind_of(bad) == errc::unexpected_response, (bad ? bad->message : "no error"));
  BOOST_TEST_MESSAGE("garbage maps to " << (bad ? bad->code_name() + ": " + bad->message : "nothing"));

  // Nobody listening: a port that was just freed.
  std::uint16_t port = 0;
  {
    rt::replay_server gone;
    port = gone.port();
  }
  auto obs = std::make_shared<recorder>();
  auto s = http->open_stream(post("http://127.0.0.1:" + std::to_string(port) + "/EWS/Exchange.asmx"), obs);
  BOOST_REQUIRE(obs->wait_end(10s));
  BOOST_TEST(kind_of(obs->error()) == errc::connect_failed, (obs->error() ? obs->error()->message : "no error"));
  auto refused = http->send(post("http://127.0.0.1:" + std::to_string(port) + "/x"), ews::context{});
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().kind() == errc::connect_failed);
}

BOOST_DATA_TEST_CASE(throttling_status_comes_back_with_retry_after, engines, engine) {
  rt::replay_server server;
  auto r = rt::http_error(503, 42s);
  r.headers.push_back({"X-Request-Id", "rid-7"});
  server.add(answer(r));
  auto http = make_transport(engine);
  auto res = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(res);
  BOOST_TEST(res->head.status == 503);
  auto e = soap::http_status_error(res->head);
  BOOST_TEST(e.kind() == errc::throttled);
  BOOST_TEST(e.back_off->count() == 42000);
  BOOST_TEST(e.request_id == "rid-7");
}

BOOST_DATA_TEST_CASE(response_size_limit, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::soap_response(std::string(10000, 'a'))));  // Content-Length
  server.add(answer(rt::streaming_response({rt::chunk{std::string(600, 'b'), 0ms, "", false},
                                            rt::chunk{std::string(600, 'c'), 0ms, "", false}})));  // chunked
  server.add(answer(rt::soap_response(std::string(1000, 'd'))));
  soap::http_transport_options options;
  options.max_response_bytes = 1000;
  auto http = make_transport(engine, options);
  auto big = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(!big);
  BOOST_TEST(big.error().kind() == errc::response_too_large);
  auto chunked = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(!chunked);
  BOOST_TEST(chunked.error().kind() == errc::response_too_large);
  auto fits = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(fits);
  BOOST_TEST(fits->body.size() == 1000u);
}

BOOST_DATA_TEST_CASE(large_bodies_arrive_whole, engines, engine) {
  // Larger than one read and than any default parser limit, with
  // Content-Length and chunked (in pieces of several reads each).
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  std::vector<rt::chunk> pieces;
  for (std::size_t i = 0; i < big.size(); i += 100000) pieces.push_back(rt::chunk{big.substr(i, 100000), 0ms, "", false});
  rt::replay_server server;
  server.add(answer(rt::soap_response(big)));
  server.add(answer(rt::streaming_response(pieces)));
  auto http = make_transport(engine);
  auto with_length = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE_MESSAGE(with_length, (with_length ? "" : with_length.error().message));
  BOOST_TEST((with_length->body == big));
  auto chunked = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE_MESSAGE(chunked, (chunked ? "" : chunked.error().message));
  BOOST_TEST((chunked->body == big));
}

BOOST_DATA_TEST_CASE(a_lent_body_buffer_never_changes_the_answer, engines, engine) {
  // Content-Length, chunked, and an error status; the lent buffer holds
  // stale text longer than each answer, which must not show through.
  const std::string first = envelope(1);
  std::vector<rt::chunk> pieces{{first.substr(0, 40), 0ms, "", false}, {first.substr(40), 0ms, "", false}};
  rt::replay_server server;
  server.add(answer(rt::soap_response(first)));
  server.add(answer(rt::streaming_response(pieces)));
  server.add(answer(rt::soap_response("<fault/>", 500)));
  auto http = make_transport(engine);
  for (const std::string& expected : {first, first, std::string("<fault/>")}) {
    std::string lent(first.size() * 3, '#');
    auto request = post(server.url());
    request.body_buffer = &lent;
    auto r = http->send(request, ews::context{});
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    BOOST_TEST(r->body == expected);
  }
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_DATA_TEST_CASE(send_honours_cancel_and_deadline, engines, engine) {
  rt::replay_server server;
  server.on("", [](const rt::received_request&) {
    return rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold);
  });
  auto http = make_transport(engine);
  auto t0 = steady::now();
  auto late = http->send(post(server.url()), ews::context{}.with_timeout(200ms));
  BOOST_REQUIRE(!late);
  BOOST_TEST(late.error().kind() == errc::timeout);
  BOOST_TEST(ms(steady::now() - t0) < 2000.0);

  ews::context ctx;
  std::thread canceller([&] {
    server.wait_for("", 2, 5s);
    ctx.cancel();
  });
  auto cancelled = http->send(post(server.url()), ctx);
  canceller.join();
  BOOST_REQUIRE(!cancelled);
  BOOST_TEST(cancelled.error().kind() == errc::cancelled);
}

BOOST_DATA_TEST_CASE(redirect_is_not_followed_and_credentials_stay_home, engines, engine) {
  rt::replay_server other;  // another origin (another port)
  other.on("", [](const rt::received_request&) { return rt::soap_response(envelope(666)); });
  rt::replay_server server;
  server.add(answer(rt::redirect(other.url(), 302)));
  server.add(answer(rt::redirect(other.url(), 307)));
  auto http = make_transport(engine);
  auto req = post(server.url());
  req.headers.push_back({"Authorization", "Bearer must-not-travel"});
  auto res = http->send(req, ews::context{});
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().kind() == errc::redirect);
  BOOST_TEST(res.error().http_status == 302);
  BOOST_TEST(res.error().message.find(other.url()) != std::string::npos);
  auto again = http->send(req, ews::context{});
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().kind() == errc::redirect);
  BOOST_TEST(server.count("") == 2u);
  BOOST_TEST(other.count("") == 0u);
  BOOST_TEST(other.connections_accepted() == 0u);
}

BOOST_DATA_TEST_CASE(a_header_that_would_split_the_request_is_refused_before_sending, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::soap_response(envelope(1))));
  auto http = make_transport(engine);
  for (const soap::http_header& bad : {soap::http_header{"X-Anchor", "a@example.com\r\nEvil: 1"},
                                       soap::http_header{"X-Anchor", "a@example.com\nEvil: 1"},
                                       soap::http_header{"X-Anchor:Evil", "1"},
                                       soap::http_header{"X-Anchor", std::string("a\0b", 3)},
                                       soap::http_header{"", "1"}}) {
    auto request = post(server.url());
    request.headers.push_back(bad);
    auto res = http->send(request, ews::context{});
    BOOST_REQUIRE(!res);
    BOOST_TEST(res.error().kind() == errc::invalid_argument);
    auto obs = std::make_shared<recorder>();
    auto s = http->open_stream(request, obs);
    BOOST_REQUIRE(obs->wait_end(1s));
    BOOST_TEST(kind_of(obs->error()) == errc::invalid_argument);
  }
  BOOST_TEST(server.count("") == 0u);  // nothing reached the wire
  // An engine-owned header from the caller is dropped, not sent twice.
  auto request = post(server.url());
  request.headers.push_back({"Content-Length", "999"});
  auto res = http->send(request, ews::context{});
  BOOST_REQUIRE_MESSAGE(res, (res ? "" : res.error().message));
  BOOST_TEST(res->body == envelope(1));
}

BOOST_DATA_TEST_CASE(both_engines_write_the_callers_content_type_once_and_refuse_a_bad_method, engines, engine) {
  rt::replay_server server;
  server.add(answer(rt::soap_response(envelope(1))));
  auto http = make_transport(engine);
  auto request = post(server.url());
  request.headers = {{"content-type", "application/soap+xml; charset=utf-8"}};
  auto res = http->send(request, ews::context{});
  BOOST_REQUIRE_MESSAGE(res, (res ? "" : res.error().message));
  const auto got = server.received();
  BOOST_REQUIRE(got.size() == 1u);
  int content_types = 0;
  for (const auto& h : got[0].headers) content_types += strcasecmp(h.name.c_str(), "Content-Type") == 0 ? 1 : 0;
  BOOST_TEST(content_types == 1);
  BOOST_TEST(soap::find_header(got[0].headers, "Content-Type").value_or("") == "application/soap+xml; charset=utf-8");
  // A method that is no HTTP token never reaches the wire, on either engine.
  auto bad = post(server.url());
  bad.method = "PO ST";
  auto refused = http->send(bad, ews::context{});
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().kind() == errc::invalid_argument);
  BOOST_TEST(server.count("") == 1u);
}

BOOST_DATA_TEST_CASE(plain_http_to_a_remote_host_is_refused_before_connecting, engines, engine) {
  auto http = make_transport(engine);
  auto res = http->send(post("http://mail.example.com/EWS/Exchange.asmx"), ews::context{});
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().kind() == errc::insecure_url);
  auto obs = std::make_shared<recorder>();
  auto s = http->open_stream(post("http://10.1.2.3/EWS/Exchange.asmx"), obs);
  BOOST_REQUIRE(obs->wait_end(1s));
  BOOST_TEST(kind_of(obs->error()) == errc::insecure_url);
  BOOST_TEST(!obs->head());
}

BOOST_DATA_TEST_CASE(wire_trace_is_redacted, engines, engine) {
  std::mutex m;
  std::string log;
  soap::http_transport_options options;
  options.log.level = ews::log_level::trace;
  options.log.callback = [&](ews::log_level, std::string_view msg) {
    std::lock_guard<std::mutex> lock(m);
    log += msg;
    log += '\n';
  };
  rt::replay_server server;
  auto r = rt::soap_response(envelope(1));
  r.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=backend-secret; path=/"});
  server.add(answer(r));
  auto http = make_transport(engine, options);
  auto req = post(server.url());
  req.headers.push_back({"Authorization", "Basic dXNlcjpodW50ZXIy"});
  req.headers.push_back({"Cookie", "exchangecookie=cookie-secret"});
  BOOST_REQUIRE(http->send(req, ews::context{}));
  std::lock_guard<std::mutex> lock(m);
  BOOST_TEST(log.find("GetStreamingEvents") != std::string::npos);
  BOOST_TEST(log.find("dXNlcjpodW50ZXIy") == std::string::npos);
  BOOST_TEST(log.find("cookie-secret") == std::string::npos);
  BOOST_TEST(log.find("backend-secret") == std::string::npos);
  BOOST_TEST(log.find("Authorization: Basic ***") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- TLS ------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(tls)

BOOST_DATA_TEST_CASE(certificate_made_at_test_time_is_verified, engines, engine) {
  ews::test::test_certificates pki;
  rt::server_options tls;
  tls.tls_cert_file = pki.server_cert_file();
  tls.tls_key_file = pki.server_key_file();
  rt::replay_server server({}, tls);
  server.on("", [](const rt::received_request&) { return rt::soap_response(envelope(1)); });
  BOOST_TEST(server.url().rfind("https://127.0.0.1:", 0) == 0u);

  // Unknown CA: rejected.
  auto untrusting = make_transport(engine);
  auto rejected = untrusting->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(!rejected);
  BOOST_TEST(rejected.error().kind() == errc::tls_failure, rejected.error().message);
  auto obs = std::make_shared<recorder>();
  auto s = untrusting->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_end());
  BOOST_TEST(kind_of(obs->error()) == errc::tls_failure);

  // With the CA: accepted, by IP and by name.
  soap::http_transport_options with_ca;
  with_ca.ca_file = pki.ca_file();
  auto trusting = make_transport(engine, with_ca);
  auto ok = trusting->send(post(server.url()), ews::context{});
  BOOST_REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().message));
  BOOST_TEST(ok->body == envelope(1));
  auto by_name = trusting->send(post("https://localhost:" + std::to_string(server.port()) + "/EWS/Exchange.asmx"),
                                ews::context{});
  BOOST_REQUIRE_MESSAGE(by_name, (by_name ? "" : by_name.error().message));

  // Both the rejected and accepted attempts reached the server's TLS layer only.
  BOOST_TEST(server.count("") == 2u);
}

BOOST_DATA_TEST_CASE(certificate_for_another_host_is_rejected, engines, engine) {
  ews::test::test_certificates pki;
  rt::server_options tls;
  tls.tls_cert_file = pki.wrong_host_cert_file();
  tls.tls_key_file = pki.wrong_host_key_file();
  rt::replay_server server({}, tls);
  server.on("", [](const rt::received_request&) { return rt::soap_response(envelope(1)); });
  soap::http_transport_options with_ca;
  with_ca.ca_file = pki.ca_file();
  auto http = make_transport(engine, with_ca);
  auto res = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().kind() == errc::tls_failure, res.error().message);
  BOOST_TEST(server.count("") == 0u);
}

BOOST_DATA_TEST_CASE(a_missing_ca_file_is_an_error_not_a_silent_fallback, engines, engine) {
  soap::http_transport_options options;
  options.ca_file = "/nonexistent/ca.pem";
  BOOST_CHECK_EXCEPTION(make_transport(engine, options), ews::error,
                        [](const ews::error& e) { return e.info().kind() == errc::tls_failure; });
}

BOOST_AUTO_TEST_SUITE_END()

// ---- resources ------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(no_leaked_threads_or_sockets_after_500_open_cancel_cycles, engines, engine) {
  rt::replay_server server;
  server.on("", [](const rt::received_request&) {
    return rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold);
  });
  auto http = make_transport(engine);
  auto cycle = [&] {
    auto obs = std::make_shared<recorder>();
    auto s = http->open_stream(post(server.url()), obs);
    BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
    s->cancel();
    BOOST_REQUIRE(obs->wait_end(1s));
  };
  // Warm up: the engine's fixed thread pool and the server's threads exist now.
  for (int i = 0; i < 5; ++i) cycle();
  BOOST_REQUIRE(server.wait_idle(5s));
  const std::size_t fds_before = count_entries("/proc/self/fd");
  const std::size_t threads_before = count_entries("/proc/self/task");
  for (int i = 0; i < 500; ++i) cycle();
  BOOST_REQUIRE(server.wait_idle(10s));
  const std::size_t fds_after = count_entries("/proc/self/fd");
  const std::size_t threads_after = count_entries("/proc/self/task");
  BOOST_TEST_MESSAGE("fds " << fds_before << " -> " << fds_after << ", threads " << threads_before << " -> "
                            << threads_after);
  BOOST_TEST(fds_after <= fds_before + 2);
  BOOST_TEST(threads_after <= threads_before + 2);
  BOOST_TEST(server.connections_accepted() == 505u);
}

namespace {

std::size_t resident_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long pages_total = 0, pages_resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * 4 : 0;
}

// Opens `n` hanging streams at once, checks each one delivers, and reports
// the resident memory they cost (client and in-process server together, so
// an upper bound for the client side).
void many_streams(soap::http_engine engine, const std::string& name, std::size_t n,
                  rt::server_options server_options, soap::http_transport_options transport_options) {
  server_options.max_connections = n + 8;
  rt::replay_server server({}, server_options);
  server.on("", [](const rt::received_request&) {
    return rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false}}, rt::ending::hold);
  });
  auto http = make_transport(engine, transport_options);
  {  // warm up pools and the first TLS context
    auto obs = std::make_shared<recorder>();
    auto s = http->open_stream(post(server.url()), obs);
    BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  }
  const std::size_t before = resident_kb();
  std::vector<std::shared_ptr<recorder>> observers;
  std::vector<std::unique_ptr<soap::stream>> streams;
  for (std::size_t i = 0; i < n; ++i) {
    observers.push_back(std::make_shared<recorder>());
    // Long inactivity timeout: under sanitizers 100 TLS handshakes take long
    // enough for the first streams to sit idle past the default.
    streams.push_back(http->open_stream(post(server.url(), 10min), observers.back()));
  }
  for (auto& obs : observers) BOOST_REQUIRE(obs->wait_data_contains(envelope(1), 20s));
  const std::size_t after = resident_kb();
  BOOST_TEST_MESSAGE(engine << " " << name << ": " << n << " simultaneous streams, resident +" << (after - before) << " KB, about "
                          << (after - before) / n << " KB per stream (client and server together)");
  const auto t0 = steady::now();
  streams.clear();  // cancels and waits for each
  BOOST_TEST_MESSAGE(engine << " " << name << ": closing " << n << " streams took " << ms(steady::now() - t0) << " ms");
  for (auto& obs : observers) BOOST_TEST(kind_of(obs->error()) == errc::cancelled);
}

}  // namespace

BOOST_DATA_TEST_CASE(many_simultaneous_plain_streams, engines, engine) {
  many_streams(engine, "plain", 200, {}, {});
}

BOOST_DATA_TEST_CASE(many_simultaneous_tls_streams, engines, engine) {
  ews::test::test_certificates pki;
  rt::server_options tls;
  tls.tls_cert_file = pki.server_cert_file();
  tls.tls_key_file = pki.server_key_file();
  soap::http_transport_options with_ca;
  with_ca.ca_file = pki.ca_file();
  many_streams(engine, "tls", 100, tls, with_ca);
}

// ---- what only the asio engine does ----------------------------------------------------

namespace {

std::unique_ptr<soap::transport> asio_transport(soap::http_transport_options options = {}) {
  return make_transport(soap::http_engine::asio, std::move(options));
}

// A listener on 127.0.0.1 whose accept queue is full: it never accepts, so
// one more connection attempt gets no answer to its SYN and hangs (Linux
// drops SYNs to a full queue).
class full_listener {
 public:
  full_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_REQUIRE(::listen(fd_, 0) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {  // fill the queue (backlog 0 holds one; the rest hang too)
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(c);
    }
  }
  ~full_listener() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(asio_engine)

BOOST_AUTO_TEST_CASE(connect_timeout_bounds_a_connect_that_gets_no_answer) {
  full_listener listener;
  soap::http_transport_options options;
  options.connect_timeout = 300ms;
  auto http = asio_transport(options);
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/EWS/Exchange.asmx";
  // Inactivity and deadline far beyond the connect timeout: only it can end these.
  auto res = http->send(post(url, 60s), ews::context{}.with_timeout(30s));
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().kind() == errc::connect_failed, res.error().message);
  BOOST_TEST(res.error().message.find("connect timeout") != std::string::npos, res.error().message);
  auto obs = std::make_shared<recorder>();
  auto s = http->open_stream(post(url, 60s), obs);
  BOOST_REQUIRE(obs->wait_end(30s));
  BOOST_TEST(kind_of(obs->error()) == errc::connect_failed);
  BOOST_TEST(!obs->head());
}

BOOST_AUTO_TEST_CASE(threads_out_of_range_are_refused) {
  soap::http_transport_options options;
  options.threads = 0;
  BOOST_CHECK_EXCEPTION(asio_transport(options), ews::error,
                        [](const ews::error& e) { return e.info().kind() == errc::invalid_argument; });
  options.threads = soap::max_http_engine_threads + 1;
  BOOST_CHECK_EXCEPTION(asio_transport(options), ews::error,
                        [](const ews::error& e) { return e.info().kind() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_CASE(a_paused_stream_stops_reading_so_the_server_blocks) {
  // 64 MB offered in 256 KB chunks; loopback socket buffers hold far less
  // (tcp_rmem and tcp_wmem maxima: 32 MB + 4 MB). While the observer is
  // paused the engine must not read, so the server's writes block and it
  // stops asking its generator for chunks long before the end.
  constexpr std::size_t chunk_bytes = 256 * 1024;
  constexpr std::size_t chunks = 256;
  std::atomic<std::size_t> generated{0};
  rt::response r;
  r.more_chunks = [&](std::size_t i) -> std::optional<rt::chunk> {
    if (i >= chunks) return std::nullopt;
    generated.fetch_add(1);
    return rt::chunk{std::string(chunk_bytes, static_cast<char>('a' + i % 26)), 0ms, "", false};
  };
  rt::replay_server server;
  server.add(answer(std::move(r)));
  auto http = asio_transport();
  auto obs = std::make_shared<recorder>(1);  // pauses after the first piece
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_head());
  BOOST_REQUIRE(obs->wait_data_contains("a"));
  // Wait until the server is stuck: no new chunk for half a second (bounded).
  std::size_t last = generated.load();
  int quiet = 0;
  for (int i = 0; i < 200 && quiet < 5; ++i) {
    std::this_thread::sleep_for(100ms);
    const std::size_t now = generated.load();
    quiet = now == last ? quiet + 1 : 0;
    last = now;
  }
  BOOST_TEST_MESSAGE("server stalled after " << last << " of " << chunks << " chunks ("
                                             << last * chunk_bytes / 1024 << " KB)");
  BOOST_TEST(last < chunks);
  BOOST_TEST(!server.wait_for_responses("", 1, 10ms));
  BOOST_TEST(obs->pieces() == 1u);
  stream->resume();
  BOOST_REQUIRE(obs->wait_end(60s));
  BOOST_TEST(!obs->error());
  BOOST_TEST(obs->data().size() == chunks * chunk_bytes);
  BOOST_TEST(generated.load() == chunks);
}

BOOST_AUTO_TEST_CASE(keep_alive_reuses_a_connection_and_retries_once_when_the_server_closed_it) {
  rt::replay_server server;
  server.add(answer(rt::soap_response(envelope(1))));
  auto closing = rt::soap_response(envelope(2));
  closing.end = rt::ending::close;  // closed after a whole response, without saying so
  server.add(answer(closing));
  server.add(answer(rt::soap_response(envelope(3))));
  auto http = asio_transport();
  auto first = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(first);
  BOOST_TEST(first->body == envelope(1));
  auto second = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE(second);
  BOOST_TEST(second->body == envelope(2));
  BOOST_TEST(server.connections_accepted() == 1u);  // reused
  BOOST_REQUIRE(server.wait_idle(5s));              // the server has closed it
  // The pooled connection is dead; the request fails on it before any
  // response byte and goes once more on a fresh connection.
  auto third = http->send(post(server.url()), ews::context{});
  BOOST_REQUIRE_MESSAGE(third, (third ? "" : third.error().message));
  BOOST_TEST(third->body == envelope(3));
  BOOST_TEST(server.connections_accepted() == 2u);
  BOOST_TEST(server.count("") == 3u);
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_CASE(the_asio_engine_builds_the_body_in_the_lent_buffer) {
  rt::replay_server server;
  server.add(answer(rt::soap_response(envelope(1))));
  server.add(answer(rt::soap_response(envelope(2))));
  auto http = asio_transport();
  std::string lent;
  lent.reserve(64 * 1024);
  const char* const memory = lent.data();
  auto request = post(server.url());
  request.body_buffer = &lent;
  auto r = http->send(request, ews::context{});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == envelope(1));
  BOOST_TEST(static_cast<const void*>(r->body.data()) == static_cast<const void*>(memory));  // no allocation of its own
  // Handed back, it serves the next answer too.
  lent = std::move(r->body);
  auto again = http->send(request, ews::context{});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->body == envelope(2));
  BOOST_TEST(static_cast<const void*>(again->body.data()) == static_cast<const void*>(memory));
}

BOOST_AUTO_TEST_CASE(streams_outlive_the_transport) {
  rt::replay_server server;
  server.add(answer(rt::streaming_response({rt::chunk{envelope(1), 0ms, "", false},
                                            rt::chunk{envelope(2), 0ms, "two", false}})));
  auto http = asio_transport();
  auto obs = std::make_shared<recorder>();
  auto stream = http->open_stream(post(server.url()), obs);
  BOOST_REQUIRE(obs->wait_data_contains(envelope(1)));
  http.reset();  // the io_context and its thread live on with the stream
  server.release("two");
  BOOST_REQUIRE(obs->wait_end());
  BOOST_TEST(!obs->error());
  BOOST_TEST(obs->data() == envelope(1) + envelope(2));
}

BOOST_AUTO_TEST_CASE(the_last_stream_can_go_inside_its_own_observer_call) {
  // The observer drops the stream (and with it the last owner of the
  // engine's threads) from on_end, on an engine thread: nothing joins
  // itself, nothing waits for itself.
  struct dropping final : soap::stream_observer {
    std::mutex m;
    std::condition_variable cv;
    std::unique_ptr<soap::stream> self;
    bool ended = false;
    void on_head(const soap::http_response_head&) override {}
    bool on_data(std::string_view) override { return true; }
    void on_end(const std::optional<ews::error_info>&) override {
      std::unique_ptr<soap::stream> mine;
      {
        std::lock_guard<std::mutex> lock(m);
        mine = std::move(self);
      }
      mine.reset();
      std::lock_guard<std::mutex> lock(m);
      ended = true;
      cv.notify_all();
    }
  };
  rt::replay_server server;
  server.add(answer(rt::soap_response(envelope(1))));
  auto obs = std::make_shared<dropping>();
  {
    auto http = asio_transport();
    std::lock_guard<std::mutex> lock(obs->m);
    obs->self = http->open_stream(post(server.url()), obs);
  }
  std::unique_lock<std::mutex> lock(obs->m);
  BOOST_TEST(obs->cv.wait_for(lock, 10s, [&] { return obs->ended; }));
}

BOOST_AUTO_TEST_CASE(several_threads_carry_concurrent_requests) {
  rt::replay_server server;
  server.on("", [](const rt::received_request&) { return rt::soap_response(envelope(7)); });
  soap::http_transport_options options;
  options.threads = 4;
  auto http = asio_transport(options);
  std::vector<std::thread> callers;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto res = http->send(post(server.url()), ews::context{});
        if (res && res->body == envelope(7)) good.fetch_add(1);
      }
    });
  }
  for (auto& c : callers) c.join();
  BOOST_TEST(good.load() == 100);
  BOOST_TEST(server.connections_accepted() <= 4u);  // kept alive: one per caller at most
}

BOOST_AUTO_TEST_SUITE_END()
