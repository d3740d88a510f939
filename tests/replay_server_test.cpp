// The replay server (ews::testing) against a small raw HTTP client written
// here, so these tests do not depend on the transport they help to test.
#include <ews/error.hpp>
#include <ews/testing/replay.hpp>

#include <boost/test/unit_test.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace et = ews::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto wait_limit = std::chrono::milliseconds(5000);

std::string soap(const std::string& op, const std::string& inner = "") {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
         "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
         "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">"
         "<soap:Header/><soap:Body><m:" + op + ">" + inner + "</m:" + op + "></soap:Body></soap:Envelope>";
}

// What the raw client saw of one response.
struct raw_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // decoded
  std::vector<std::string> chunks;             // for chunked bodies
  bool complete = false;                       // Content-Length reached / final 0-chunk seen
  bool eof = false;                            // the server closed
  bool reset = false;                          // ECONNRESET
  std::size_t wire_bytes = 0;                  // bytes received for this response
};

// A blocking HTTP/1.1 client over one socket (optionally TLS), every read
// bounded by a poll timeout.
class client {
 public:
  explicit client(std::uint16_t port, SSL_CTX* tls = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    if (tls != nullptr) {
      ssl_ = SSL_new(tls);
      SSL_set_fd(ssl_, fd_);
      SSL_set_tlsext_host_name(ssl_, "localhost");
      SSL_set1_host(ssl_, "localhost");
      handshake_ok_ = SSL_connect(ssl_) == 1;
    }
  }
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool handshake_ok() const { return handshake_ok_; }

  void close() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_raw(const std::string& bytes) {
    if (ssl_ != nullptr) return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) > 0;
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

  bool post(const std::string& body, const std::vector<std::string>& extra_headers = {}) {
    std::string req = "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n";
    for (const auto& h : extra_headers) req += h + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return send_raw(req);
  }

  // Reads at least one byte into buf_; false on EOF/reset/timeout.
  bool fill(std::chrono::milliseconds timeout, raw_response& r) {
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return read_once(r);
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n <= 0) return false;
    return read_once(r);
  }

  // True if no byte arrives within `t` (and the socket stays open).
  bool silent_for(std::chrono::milliseconds t) {
    if (!buf_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(t.count())) == 0;
  }

  // Reads one response; stops early when the connection ends.
  raw_response read_response(std::chrono::milliseconds timeout = wait_limit) {
    raw_response r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    };
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (left().count() <= 0 || !fill(left(), r)) return r;
    std::istringstream head(buf_.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto c = line.find(':');
      if (c == std::string::npos) continue;
      std::string name = line.substr(0, c);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[name] = line.substr(c + 2);
    }
    buf_.erase(0, head_end + 4);
    if (r.headers.count("transfer-encoding") != 0) {
      for (;;) {
        std::size_t e;
        while ((e = buf_.find("\r\n")) == std::string::npos)
          if (left().count() <= 0 || !fill(left(), r)) return r;
        const auto size = std::stoul(buf_.substr(0, e), nullptr, 16);
        while (buf_.size() < e + 2 + size + 2)
          if (left().count() <= 0 || !fill(left(), r)) return r;
        if (size == 0) {
          buf_.erase(0, e + 4);
          r.complete = true;
          return r;
        }
        r.chunks.push_back(buf_.substr(e + 2, size));
        r.body += r.chunks.back();
        buf_.erase(0, e + 2 + size + 2);
        if (on_chunk) on_chunk(r.chunks.back());
        if (max_chunks != 0 && r.chunks.size() >= max_chunks) return r;
      }
    }
    const std::size_t length = r.headers.count("content-length") != 0 ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length)
      if (left().count() <= 0 || !fill(left(), r)) break;
    r.body = buf_.substr(0, std::min(length, buf_.size()));
    buf_.erase(0, r.body.size());
    r.complete = r.body.size() == length;
    return r;
  }

  // Reads until the server closes (or the timeout); returns all bytes.
  std::string read_to_end(raw_response& r, std::chrono::milliseconds timeout = wait_limit) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!r.eof && !r.reset && std::chrono::steady_clock::now() < deadline)
      if (!fill(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()), r))
        break;
    return buf_;
  }

  std::function<void(const std::string&)> on_chunk;
  std::size_t max_chunks = 0;  // stop reading a chunked body after this many (0: no limit)

 private:
  bool read_once(raw_response& r) {
    char tmp[16384];
    long n;
    if (ssl_ != nullptr) {
      n = SSL_read(ssl_, tmp, sizeof tmp);
      if (n <= 0) {
        r.eof = true;
        return false;
      }
    } else {
      n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0) {
        if (errno == ECONNRESET) r.reset = true;
        return false;
      }
      if (n == 0) {
        r.eof = true;
        return false;
      }
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    r.wire_bytes += static_cast<std::size_t>(n);
    return true;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool handshake_ok_ = true;
  std::string buf_;
};

et::exchange ex(const std::string& op, et::response r, const std::string& label = "") {
  et::exchange e;
  e.label = label;
  e.expect.operation = op;
  e.respond = std::move(r);
  return e;
}

et::chunk ch(std::string data, std::chrono::milliseconds after = 0ms, std::string gate = "") {
  et::chunk c;
  c.data = std::move(data);
  c.after = after;
  c.gate = std::move(gate);
  return c;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temporary folder removed at scope end.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("ews-replay-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

// ---------------------------------------------------------------- manifest

BOOST_AUTO_TEST_SUITE(manifest)

const et::file_reader files = [](std::string_view name) -> ews::result<std::string> {
  if (name == "a.xml") return std::string("<a/>");
  if (name == "c1.xml") return std::string("chunk one");
  return ews::make_error(ews::errc::io_error, "not found");
};

BOOST_AUTO_TEST_CASE(parses_every_directive) {
  const std::string text = R"(# a comment
scenario demo
forbid SyncFolderItems

exchange first
  operation Subscribe
  body-contains <t:FolderId
  body-excludes Password
  header-equals X-PreferServerAffinity: true
  header-contains Cookie: X-BackEndOverrideCookie=
  header-excludes Authorization: Basic
  header-present X-AnchorMailbox
  header-absent X-Foo
  request-body a.xml
  status 200 OK
  header Content-Type: text/xml; charset=utf-8
  body a.xml
exchange
  operation GetStreamingEvents
  chunk file=c1.xml
  chunk after=250ms gate=second text=two words\r\n
  chunk after=2s raw text=\x00\xffgarbage
  chunk empty
  end hold 30s
exchange faults
  body-text <x>\t</x>
  reset-after 120
  end reset
exchange raw
  raw-text HTTP/1.1 garbage
  end close
)";
  auto s = et::parse_manifest(text, "demo/manifest", files);
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  BOOST_TEST(s->name == "demo");
  BOOST_TEST(s->forbidden_operations == std::vector<std::string>{"SyncFolderItems"});
  BOOST_TEST_REQUIRE(s->exchanges.size() == 4u);
  const auto& a = s->exchanges[0];
  BOOST_TEST(a.label == "first");
  BOOST_TEST(a.expect.operation == "Subscribe");
  BOOST_TEST(a.expect.body_contains == std::vector<std::string>{"<t:FolderId"});
  BOOST_TEST(a.expect.body_excludes == std::vector<std::string>{"Password"});
  BOOST_TEST_REQUIRE(a.expect.header_equals.size() == 1u);
  BOOST_TEST(a.expect.header_equals[0].name == "X-PreferServerAffinity");
  BOOST_TEST(a.expect.header_equals[0].value == "true");
  BOOST_TEST(a.expect.header_contains[0].value == "X-BackEndOverrideCookie=");
  BOOST_TEST(a.expect.header_excludes[0].value == "Basic");
  BOOST_TEST(a.expect.header_present == std::vector<std::string>{"X-AnchorMailbox"});
  BOOST_TEST(a.expect.header_absent == std::vector<std::string>{"X-Foo"});
  BOOST_TEST(a.recorded_request == "<a/>");
  BOOST_TEST(a.respond.status == 200);
  BOOST_TEST(a.respond.reason == "OK");
  BOOST_TEST(a.respond.headers[0].value == "text/xml; charset=utf-8");
  BOOST_TEST(a.respond.body == "<a/>");
  BOOST_TEST(!a.respond.streaming());

  const auto& b = s->exchanges[1];
  BOOST_TEST(b.label.empty());
  BOOST_TEST_REQUIRE(b.respond.chunks.size() == 4u);
  BOOST_TEST(b.respond.streaming());
  BOOST_TEST(b.respond.chunks[0].data == "chunk one");
  BOOST_TEST(b.respond.chunks[1].data == "two words\r\n");
  BOOST_TEST(b.respond.chunks[1].after.count() == 250);
  BOOST_TEST(b.respond.chunks[1].gate == "second");
  BOOST_TEST(b.respond.chunks[2].raw);
  BOOST_TEST(b.respond.chunks[2].after.count() == 2000);
  BOOST_TEST(b.respond.chunks[2].data == std::string("\x00\xff" "garbage", 9));
  BOOST_TEST(b.respond.chunks[3].data.empty());
  BOOST_TEST((b.respond.end == et::ending::hold));
  BOOST_TEST(b.respond.hold_for.count() == 30000);

  const auto& c = s->exchanges[2];
  BOOST_TEST(c.expect.operation.empty());
  BOOST_TEST(c.respond.body == "<x>\t</x>");
  BOOST_TEST(c.respond.reset_after_bytes.value_or(0) == 120u);
  BOOST_TEST((c.respond.end == et::ending::reset));
  BOOST_TEST(s->exchanges[3].respond.raw.value_or("") == "HTTP/1.1 garbage");
  BOOST_TEST((s->exchanges[3].respond.end == et::ending::close));
}

BOOST_AUTO_TEST_CASE(errors_name_file_and_line) {
  struct bad_case {
    std::string text;
    std::string expected;
  };
  const std::vector<bad_case> cases = {
      {"exchange\n  frobnicate x\n", "m/manifest:2: unknown directive 'frobnicate'"},
      {"operation GetItem\n", "m/manifest:1: 'operation' before the first 'exchange'"},
      {"# c\n\nexchange\n  chunk after=5parsecs text=x\n", "m/manifest:4: bad duration '5parsecs' (use 250ms, 2s or 1m, at most a day)"},
      {"exchange\n  chunk after=5ms\n", "m/manifest:2: chunk needs file=NAME, text=TEXT or empty"},
      {"exchange\n  body missing.xml\n", "m/manifest:2: cannot read 'missing.xml': not found"},
      {"exchange\n  status 99x\n", "m/manifest:2: bad status '99x'"},
      {"exchange\n  end sometimes\n", "m/manifest:2: end must be final, close, reset or hold, not 'sometimes'"},
      {"exchange\n  header NoColon\n", "m/manifest:2: expected 'Name: value'"},
      {"exchange\n  body-text bad \\q escape\n", "m/manifest:2: unknown escape \\q"},
      {"exchange\n  reset-after -3\n", "m/manifest:2: bad number '-3'"},
  };
  for (const auto& c : cases) {
    auto s = et::parse_manifest(c.text, "m/manifest", files);
    BOOST_TEST_REQUIRE(!s.has_value(), c.text);
    BOOST_TEST(s.error().message == c.expected);
    BOOST_TEST((s.error().kind() == ews::errc::invalid_argument));
  }
}

BOOST_AUTO_TEST_CASE(mutated_manifests_give_a_scenario_or_an_error) {
  // A poor man's fuzz run (fixed seed): byte flips, truncations and
  // duplications of a valid manifest never crash and every error names a line.
  const std::string base =
      "scenario s\nforbid X\nexchange a\n  operation GetItem\n  header-equals A: b\n  status 503 Busy\n"
      "  header Retry-After: 5\n  body-text <x/>\n  chunk after=10ms gate=g text=a\\x41\\r\\n\n"
      "  reset-after 7\n  end hold 2s\nexchange\n  raw-text \\x00\n  end reset\n";
  BOOST_TEST_REQUIRE(et::parse_manifest(base, "f", files).has_value());
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  std::size_t errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const auto pos = next() % text.size();
      switch (next() % 4) {
        case 0: text[pos] = static_cast<char>(next() & 0xff); break;
        case 1: text.erase(pos, next() % 8); break;
        case 2: text.insert(pos, text.substr(pos, next() % 16)); break;
        default: text.resize(pos); break;
      }
    }
    auto s = et::parse_manifest(text, "f", files);
    if (!s) {
      ++errors;
      BOOST_TEST_REQUIRE(s.error().message.rfind("f:", 0) == 0u, s.error().message);
    }
  }
  BOOST_TEST(errors > 0u);
}

BOOST_AUTO_TEST_CASE(empty_and_comment_only_manifests_are_empty_scenarios) {
  auto s = et::parse_manifest("# nothing\n\n   \n", "x", files);
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->exchanges.empty());
}

BOOST_AUTO_TEST_CASE(save_then_load_gives_the_same_scenario) {
  et::scenario s;
  s.name = "round trip";
  s.forbidden_operations = {"SyncFolderItems"};
  auto e1 = ex("GetItem", et::soap_response(soap("GetItemResponse")), "get item");
  e1.expect.body_contains = {"ChangeKey=\"", " leading space"};
  e1.expect.header_equals = {{"X-AnchorMailbox", "a@example.com"}};
  e1.recorded_request = soap("GetItem");
  s.exchanges.push_back(e1);
  auto stream = et::streaming_response({ch("one\r\n"), ch("two", 40ms, "g"), ch("")}, et::ending::hold);
  stream.hold_for = 1500ms;
  stream.chunks[1].raw = true;
  s.exchanges.push_back(ex("GetStreamingEvents", stream));
  auto fault = et::http_error(503, 7s);
  fault.reset_after_bytes = 10;
  s.exchanges.push_back(ex("", fault));
  temp_dir dir;
  BOOST_TEST_REQUIRE(et::save_scenario(s, dir.path.string()).has_value());
  auto back = et::load_scenario(dir.path.string());
  BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
  BOOST_TEST(back->name == "round trip");
  BOOST_TEST(back->forbidden_operations == s.forbidden_operations);
  BOOST_TEST_REQUIRE(back->exchanges.size() == 3u);
  BOOST_TEST(back->exchanges[0].expect.body_contains == e1.expect.body_contains);
  BOOST_TEST(back->exchanges[0].expect.header_equals[0].value == "a@example.com");
  BOOST_TEST(back->exchanges[0].recorded_request == e1.recorded_request);
  BOOST_TEST(back->exchanges[0].respond.body == e1.respond.body);
  const auto& st = back->exchanges[1].respond;
  BOOST_TEST_REQUIRE(st.chunks.size() == 3u);
  BOOST_TEST(st.chunks[0].data == "one\r\n");
  BOOST_TEST(st.chunks[1].data == "two");
  BOOST_TEST(st.chunks[1].after.count() == 40);
  BOOST_TEST(st.chunks[1].gate == "g");
  BOOST_TEST(st.chunks[1].raw);
  BOOST_TEST(st.chunks[2].data.empty());
  BOOST_TEST((st.end == et::ending::hold));
  BOOST_TEST(st.hold_for.count() == 1500);
  const auto& f = back->exchanges[2].respond;
  BOOST_TEST(f.status == 503);
  BOOST_TEST(f.reset_after_bytes.value_or(0) == 10u);
  BOOST_TEST(f.headers[0].name == "Retry-After");
  BOOST_TEST(f.headers[0].value == "7");
}

BOOST_AUTO_TEST_CASE(body_files_may_not_leave_the_folder) {
  temp_dir dir;
  std::ofstream(dir.path / "manifest") << "exchange\n  body ../../etc/passwd\n";
  auto s = et::load_scenario(dir.path.string());
  BOOST_TEST_REQUIRE(!s.has_value());
  BOOST_TEST(s.error().message.find("manifest:2: cannot read '../../etc/passwd': path leaves") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(operation_is_the_first_body_child) {
  BOOST_TEST(et::operation_of(soap("GetItem")) == "GetItem");
  BOOST_TEST(et::operation_of("<Envelope xmlns=\"x\"><Header><A/></Header><!-- <Body><No/></Body> -->"
                              "<Body attr=\"a>b\">\n <GetStreamingEvents xmlns=\"m\"/></Body></Envelope>") ==
             "GetStreamingEvents");
  BOOST_TEST(et::operation_of("<s:Envelope><s:Body/></s:Envelope>").empty());
  BOOST_TEST(et::operation_of("not xml at all").empty());
  BOOST_TEST(et::operation_of("").empty());
  BOOST_TEST(et::operation_of("<s:Envelope><s:Body><").empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- serving

BOOST_AUTO_TEST_SUITE(serving)

BOOST_AUTO_TEST_CASE(answers_in_order_on_one_keep_alive_connection_and_records) {
  et::scenario s;
  auto sub = ex("Subscribe", et::soap_response(soap("SubscribeResponse", "<m:SubscriptionId>S1</m:SubscriptionId>")), "subscribe");
  sub.expect.header_equals = {{"X-AnchorMailbox", "a@example.com"}};
  sub.expect.body_contains = {"<m:Subscribe>"};
  s.exchanges.push_back(sub);
  s.exchanges.push_back(ex("GetItem", et::soap_response(soap("GetItemResponse", "one"))));
  s.exchanges.push_back(ex("GetItem", et::soap_response(soap("GetItemResponse", "two"))));
  et::replay_server server(s);
  BOOST_TEST(server.url() == "http://127.0.0.1:" + std::to_string(server.port()) + "/EWS/Exchange.asmx");
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("Subscribe"), {"X-AnchorMailbox: a@example.com"}));
  auto r1 = c.read_response();
  BOOST_TEST(r1.status == 200);
  BOOST_TEST(r1.headers["content-type"] == "text/xml; charset=utf-8");
  BOOST_TEST(r1.body.find("<m:SubscriptionId>S1</m:SubscriptionId>") != std::string::npos);
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().body.find(">one<") != std::string::npos);
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().body.find(">two<") != std::string::npos);
  const auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
  const auto got = server.received();
  BOOST_TEST_REQUIRE(got.size() == 3u);
  BOOST_TEST(got[0].operation == "Subscribe");
  BOOST_TEST(got[0].method == "POST");
  BOOST_TEST(got[0].target == "/EWS/Exchange.asmx");
  BOOST_TEST(got[0].exchange == "subscribe");
  BOOST_TEST(got[0].body == soap("Subscribe"));
  BOOST_TEST(got[2].connection == 1u);
  BOOST_TEST(server.connections_accepted() == 1u);
  BOOST_TEST(server.count("GetItem") == 2u);
}

BOOST_AUTO_TEST_CASE(chunked_request_bodies_and_100_continue_are_read) {
  et::replay_server server(et::scenario{{}, {ex("GetItem", et::soap_response("<ok/>"))}, {}});
  client c(server.port());
  const std::string body = soap("GetItem");
  std::string req = "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
  BOOST_TEST_REQUIRE(c.send_raw(req));
  auto cont = c.read_response();
  BOOST_TEST(cont.status == 100);
  BOOST_TEST_REQUIRE(c.send_raw("10\r\n" + body.substr(0, 16) + "\r\n"));
  BOOST_TEST_REQUIRE(c.send_raw(
      [&] { std::ostringstream o; o << std::hex << body.size() - 16; return o.str(); }() + ";ext=1\r\n" +
      body.substr(16) + "\r\n0\r\nX-Trailer: y\r\n\r\n"));
  auto r = c.read_response();
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "<ok/>");
  BOOST_TEST_REQUIRE(server.received().size() == 1u);
  BOOST_TEST(server.received()[0].body == body);
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_CASE(unmet_expectations_are_listed) {
  et::scenario s;
  auto e = ex("Subscribe", et::soap_response("<ok/>"), "subscribe");
  e.expect.header_equals = {{"X-PreferServerAffinity", "true"}};
  e.expect.header_present = {"X-AnchorMailbox"};
  e.expect.header_absent = {"Authorization"};
  e.expect.body_contains = {"<t:EventType>NewMailEvent</t:EventType>"};
  e.expect.body_excludes = {"m:Subscribe"};
  e.expect.header_contains = {{"Cookie", "X-BackEndOverrideCookie="}};
  e.expect.header_excludes = {{"User-Agent", "curl"}};
  s.exchanges.push_back(e);
  s.exchanges.push_back(ex("Unsubscribe", et::soap_response("<ok/>"), "unsubscribe"));
  et::replay_server server(s);
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("Subscribe"), {"Authorization: Basic eA==", "X-PreferServerAffinity: false",
                                                 "User-Agent: curl/8"}));
  BOOST_TEST(c.read_response().status == 200);  // still answered as scripted
  const auto v = server.verify();
  BOOST_TEST(!v.ok);
  const auto report = v.report();
  BOOST_TEST_MESSAGE(report);
  for (const char* part :
       {"header X-PreferServerAffinity is 'false', expected 'true'", "header X-AnchorMailbox missing",
        "header Authorization present but must not be", "request body lacks '<t:EventType>NewMailEvent</t:EventType>'",
        "request body contains forbidden 'm:Subscribe'", "header Cookie missing",
        "header User-Agent contains forbidden 'curl'", "exchange 'unsubscribe' (#2) Unsubscribe was never requested"})
    BOOST_TEST(report.find(part) != std::string::npos, part);
  BOOST_TEST(v.failures.size() == 8u);
}

BOOST_AUTO_TEST_CASE(unexpected_request_gets_500_and_fails_verify) {
  et::replay_server server(et::scenario{{}, {ex("GetItem", et::soap_response("<ok/>"))}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetFolder")));
  auto r = c.read_response();
  BOOST_TEST(r.status == 500);
  BOOST_TEST(r.body.find("<faultcode>s:Server</faultcode>") != std::string::npos);
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().status == 200);  // the connection survived
  const auto v = server.verify();
  BOOST_TEST(!v.ok);
  BOOST_TEST_REQUIRE(v.failures.size() == 1u);
  BOOST_TEST(v.failures[0] == "request 1 (GetFolder): unexpected request, no exchange left for operation 'GetFolder'");
}

BOOST_AUTO_TEST_CASE(forbidden_operation_fails_verify) {
  et::scenario s;
  s.forbidden_operations = {"SyncFolderItems"};
  s.exchanges.push_back(ex("GetItem", et::soap_response("<ok/>")));
  {
    et::replay_server clean(s);
    client c(clean.port());
    BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
    BOOST_TEST(c.read_response().status == 200);
    BOOST_TEST(clean.verify().ok, clean.verify().report());
  }
  et::replay_server server(s);
  server.forbid("FindItem");
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().status == 200);
  BOOST_TEST_REQUIRE(c.post(soap("SyncFolderItems")));
  BOOST_TEST(c.read_response().status == 500);
  BOOST_TEST_REQUIRE(c.post(soap("FindItem")));
  BOOST_TEST(c.read_response().status == 500);
  const auto report = server.verify().report();
  BOOST_TEST(report.find("request 2 (SyncFolderItems): forbidden operation SyncFolderItems received") != std::string::npos, report);
  BOOST_TEST(report.find("forbidden operation FindItem received") != std::string::npos, report);
}

BOOST_AUTO_TEST_CASE(dynamic_responders_answer_what_is_asked) {
  et::replay_server server;
  server.on("GetItem", [](const et::received_request& r) {
    // Echo every Id="..." back as an item.
    std::string items;
    for (std::size_t p = 0; (p = r.body.find("Id=\"", p)) != std::string::npos;) {
      const auto e = r.body.find('"', p + 4);
      items += "<t:Message><t:ItemId Id=\"" + r.body.substr(p + 4, e - p - 4) + "\"/></t:Message>";
      p = e;
    }
    return et::soap_response(soap("GetItemResponse", items));
  });
  server.on("", [](const et::received_request&) { return et::http_error(503, 3s); });
  client c(server.port());
  for (int i = 0; i < 50; ++i) {
    const auto id = "id-" + std::to_string(i);
    BOOST_TEST_REQUIRE(c.post(soap("GetItem", "<t:ItemId Id=\"" + id + "\" ChangeKey=\"ck\"/>")));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.body.find("<t:ItemId Id=\"" + id + "\"/>") != std::string::npos);
  }
  BOOST_TEST_REQUIRE(c.post(soap("FindItem")));
  auto busy = c.read_response();
  BOOST_TEST(busy.status == 503);
  BOOST_TEST(busy.headers["retry-after"] == "3");
  BOOST_TEST(server.count("GetItem") == 50u);
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_CASE(scripted_exchanges_come_before_responders_and_responders_may_be_scripted) {
  et::scenario s;
  et::exchange first = ex("GetItem", {});
  first.respond_with = [](const et::received_request& r) {
    return et::soap_response("<first bytes=\"" + std::to_string(r.body.size()) + "\"/>");
  };
  s.exchanges.push_back(first);
  et::replay_server server(s);
  server.on("GetItem", [](const et::received_request&) { return et::soap_response("<later/>"); });
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().body == "<first bytes=\"" + std::to_string(soap("GetItem").size()) + "\"/>");
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().body == "<later/>");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- streaming

BOOST_AUTO_TEST_SUITE(streaming)

BOOST_AUTO_TEST_CASE(chunks_are_sent_exactly_and_held_at_gates) {
  const std::string e1 = "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">one</Envelope>";
  const std::string e2a = "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">tw";
  const std::string e2b = "o</Envelope>";
  et::replay_server server(et::scenario{
      {}, {ex("GetStreamingEvents", et::streaming_response({ch(e1), ch(e2a, 0ms, "next"), ch(e2b)}))}, {}});
  client c(server.port());
  std::vector<std::string> seen;
  bool gate_held = false;
  c.on_chunk = [&](const std::string& data) {
    seen.push_back(data);
    if (seen.size() == 1) {
      // The second chunk waits for the gate: nothing more may arrive now.
      gate_held = c.silent_for(100ms);
      server.release("next");
    }
  };
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto r = c.read_response();
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.headers["transfer-encoding"] == "chunked");
  BOOST_TEST(r.complete);
  BOOST_TEST(gate_held);
  BOOST_TEST_REQUIRE(r.chunks.size() == 3u);
  BOOST_TEST(r.chunks[0] == e1);
  BOOST_TEST(r.chunks[1] == e2a);
  BOOST_TEST(r.chunks[2] == e2b);
  BOOST_TEST(server.wait_for_responses("GetStreamingEvents", 1, wait_limit));
}

BOOST_AUTO_TEST_CASE(a_released_gate_stays_open_and_delays_are_kept) {
  et::replay_server server(et::scenario{
      {}, {ex("GetStreamingEvents", et::streaming_response({ch("a", 0ms, "g"), ch("b", 200ms, "g")}))}, {}});
  server.release("g");
  client c(server.port());
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto r = c.read_response();
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(r.body == "ab");
  BOOST_TEST(r.complete);
  // The server cannot send "b" before its 200 ms delay has passed.
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() >= 200);
}

BOOST_AUTO_TEST_CASE(generated_chunks_come_from_the_source) {
  et::response r;
  r.more_chunks = [](std::size_t i) -> std::optional<et::chunk> {
    if (i == 100) return std::nullopt;
    if (i % 10 == 5) return et::chunk{};  // "nothing yet"
    return ch("<e n=\"" + std::to_string(i) + "\"/>");
  };
  et::replay_server server;
  server.on("GetStreamingEvents", [r](const et::received_request&) { return r; });
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto got = c.read_response();
  BOOST_TEST(got.complete);
  BOOST_TEST(got.chunks.size() == 90u);
  BOOST_TEST(got.chunks.front() == "<e n=\"0\"/>");
  BOOST_TEST(got.chunks.back() == "<e n=\"99\"/>");
}

BOOST_AUTO_TEST_CASE(a_stream_and_other_requests_run_on_parallel_connections) {
  et::scenario s;
  s.exchanges.push_back(ex("GetStreamingEvents", et::streaming_response({ch("first"), ch("second", 0ms, "end")})));
  for (int i = 0; i < 3; ++i)
    s.exchanges.push_back(ex("GetItem", et::soap_response("<item n=\"" + std::to_string(i) + "\"/>")));
  et::replay_server server(s);
  client stream(server.port());
  BOOST_TEST_REQUIRE(stream.post(soap("GetStreamingEvents")));
  BOOST_TEST_REQUIRE(server.wait_for("GetStreamingEvents", 1, wait_limit));
  // Three GetItem calls on three more connections while the stream hangs;
  // each operation keeps its own order.
  std::vector<std::unique_ptr<client>> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(std::make_unique<client>(server.port()));
    BOOST_TEST_REQUIRE(others.back()->post(soap("GetItem")));
    BOOST_TEST(others.back()->read_response().body == "<item n=\"" + std::to_string(i) + "\"/>");
  }
  BOOST_TEST(server.connections_open() == 4u);
  server.release("end");
  auto r = stream.read_response();
  BOOST_TEST(r.body == "firstsecond");
  BOOST_TEST(r.complete);
  BOOST_TEST(server.verify().ok, server.verify().report());
  const auto got = server.received();
  BOOST_TEST(got[1].connection != got[0].connection);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- faults

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(reset_after_n_bytes) {
  auto r = et::streaming_response({ch(std::string(1000, 'x'))});
  r.reset_after_bytes = 150;
  et::replay_server server(et::scenario{{}, {ex("GetStreamingEvents", r)}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto got = c.read_response();
  std::string rest = c.read_to_end(got);
  BOOST_TEST(!got.complete);
  BOOST_TEST(got.reset);
  BOOST_TEST(got.wire_bytes == 150u);
}

BOOST_AUTO_TEST_CASE(close_without_the_final_chunk) {
  et::replay_server server(et::scenario{
      {}, {ex("GetStreamingEvents", et::streaming_response({ch("<Envelope>half"), ch("more")}, et::ending::close))}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto got = c.read_response();
  BOOST_TEST(got.chunks.size() == 2u);
  BOOST_TEST(!got.complete);
  BOOST_TEST(got.eof);
  BOOST_TEST(!got.reset);
}

BOOST_AUTO_TEST_CASE(reset_at_the_end_of_a_stream) {
  et::replay_server server(et::scenario{
      {}, {ex("GetStreamingEvents", et::streaming_response({ch("<Envelope>half")}, et::ending::reset))}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto got = c.read_response();
  BOOST_TEST(got.chunks.size() == 1u);
  BOOST_TEST(got.reset);
}

BOOST_AUTO_TEST_CASE(closed_status_then_the_socket_is_held_open_until_the_client_leaves) {
  const std::string closed = "<Envelope><m:ConnectionStatus>Closed</m:ConnectionStatus></Envelope>";
  auto r = et::streaming_response({ch(closed)}, et::ending::hold);
  et::replay_server server(et::scenario{{}, {ex("GetStreamingEvents", r)}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  std::vector<std::string> seen;
  bool open_after = false;
  c.on_chunk = [&](const std::string& d) {
    seen.push_back(d);
    open_after = c.silent_for(150ms);  // no final chunk, no FIN
  };
  auto got = c.read_response(600ms);
  BOOST_TEST_REQUIRE(seen.size() == 1u);
  BOOST_TEST(seen[0] == closed);
  BOOST_TEST(open_after);
  BOOST_TEST(!got.complete);
  BOOST_TEST(!got.eof);
  BOOST_TEST(server.connections_open() == 1u);
  c.close();
  BOOST_TEST(server.wait_idle(wait_limit));
}

BOOST_AUTO_TEST_CASE(hold_ends_after_its_time) {
  auto r = et::streaming_response({ch("x")}, et::ending::hold);
  r.hold_for = 100ms;
  et::replay_server server(et::scenario{{}, {ex("GetStreamingEvents", r)}, {}});
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto got = c.read_response();
  BOOST_TEST(got.body == "x");
  BOOST_TEST(got.eof);
}

BOOST_AUTO_TEST_CASE(garbage_bytes_inside_a_stream_and_instead_of_a_response) {
  et::chunk junk = ch("\x01\x02 not a chunk");
  junk.raw = true;
  et::scenario s;
  s.exchanges.push_back(ex("GetStreamingEvents", et::streaming_response({ch("ok"), junk}, et::ending::close)));
  et::response raw;
  raw.raw = std::string("\x16\x03garbage\r\n\r\n", 13);
  s.exchanges.push_back(ex("GetItem", raw));
  et::replay_server server(s);
  {
    client c(server.port());
    BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
    auto got = c.read_response();
    BOOST_TEST(got.chunks.size() == 1u);
    const auto rest = c.read_to_end(got);
    BOOST_TEST(rest == "\x01\x02 not a chunk");
    BOOST_TEST(got.eof);
  }
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  raw_response got;
  BOOST_TEST(c.read_to_end(got) == *raw.raw);
  BOOST_TEST(got.eof);
}

BOOST_AUTO_TEST_CASE(status_faults_carry_their_headers) {
  et::scenario s;
  s.exchanges.push_back(ex("GetItem", et::http_error(503, 5s)));
  s.exchanges.push_back(ex("GetItem", et::http_error(429, 30s)));
  s.exchanges.push_back(ex("GetItem", et::redirect("http://127.0.0.1:1/EWS/Exchange.asmx")));
  const std::string busy = soap("GetItemResponse",
                                "<m:ResponseMessages><m:GetItemResponseMessage ResponseClass=\"Error\">"
                                "<m:ResponseCode>ErrorServerBusy</m:ResponseCode></m:GetItemResponseMessage>"
                                "</m:ResponseMessages>");
  s.exchanges.push_back(ex("GetItem", et::soap_response(busy, 500)));
  et::replay_server server(s);
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  auto a = c.read_response();
  BOOST_TEST(a.status == 503);
  BOOST_TEST(a.headers["retry-after"] == "5");
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  auto b = c.read_response();
  BOOST_TEST(b.status == 429);
  BOOST_TEST(b.headers["retry-after"] == "30");
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  auto d = c.read_response();
  BOOST_TEST(d.status == 302);
  BOOST_TEST(d.headers["location"] == "http://127.0.0.1:1/EWS/Exchange.asmx");
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  auto e = c.read_response();
  BOOST_TEST(e.status == 500);
  BOOST_TEST(e.body == busy);
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- TLS

namespace {

// A self-signed certificate for localhost / 127.0.0.1 (its own CA), made now.
struct test_certificate {
  temp_dir dir;
  std::string cert_file;
  std::string key_file;

  test_certificate() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    BOOST_REQUIRE(key != nullptr);
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                              {NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      BOOST_REQUIRE(ext != nullptr);
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    BOOST_REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
    cert_file = (dir.path / "cert.pem").string();
    key_file = (dir.path / "key.pem").string();
    FILE* f = std::fopen(cert_file.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key_file.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
  }
};

struct client_tls {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  explicit client_tls(const std::string& ca_file) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!ca_file.empty()) SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  }
  ~client_tls() { SSL_CTX_free(ctx); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(serves_https_with_a_certificate_made_now) {
  test_certificate cert;
  et::server_options o;
  o.tls_cert_file = cert.cert_file;
  o.tls_key_file = cert.key_file;
  et::scenario s;
  s.exchanges.push_back(ex("GetItem", et::soap_response("<item/>")));
  s.exchanges.push_back(ex("GetStreamingEvents", et::streaming_response({ch("a"), ch("b")})));
  et::replay_server server(s, o);
  BOOST_TEST(server.url().rfind("https://127.0.0.1:", 0) == 0u);
  {
    client_tls untrusting("");
    client c(server.port(), untrusting.ctx);
    BOOST_TEST(!c.handshake_ok());  // unknown CA
  }
  client_tls trusting(cert.cert_file);
  client c(server.port(), trusting.ctx);
  BOOST_TEST_REQUIRE(c.handshake_ok());
  BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
  BOOST_TEST(c.read_response().body == "<item/>");
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto r = c.read_response();
  BOOST_TEST(r.chunks == (std::vector<std::string>{"a", "b"}));
  BOOST_TEST(r.complete);
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_CASE(a_missing_certificate_is_a_tls_error) {
  et::server_options o;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  try {
    et::replay_server server({}, o);
    BOOST_FAIL("no error");
  } catch (const ews::error& e) {
    BOOST_TEST((e.info().kind() == ews::errc::tls_failure));
    BOOST_TEST(e.info().message.find("/nonexistent/cert.pem") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- shutdown

namespace {

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stopping)

BOOST_AUTO_TEST_CASE(stops_promptly_with_stalled_clients_and_leaves_nothing) {
  const auto threads_before = count_entries("/proc/self/task");
  const auto fds_before = count_entries("/proc/self/fd");
  {
    std::vector<std::unique_ptr<client>> clients;
    {
      et::scenario s;
      s.exchanges.push_back(ex("GetStreamingEvents", et::streaming_response({ch("x")}, et::ending::hold)));
      s.exchanges.push_back(ex("GetStreamingEvents", et::streaming_response({ch("y", 0ms, "never")})));
      // 16 MB that the client never reads: the server blocks in send().
      s.exchanges.push_back(ex("GetItem", et::soap_response(std::string(16 * 1024 * 1024, 'z'))));
      s.exchanges.push_back(ex("GetFolder", et::streaming_response({ch("late", std::chrono::hours(1))})));
      et::replay_server server(std::move(s));
      for (const char* op : {"GetStreamingEvents", "GetStreamingEvents", "GetItem", "GetFolder"}) {
        clients.push_back(std::make_unique<client>(server.port()));
        BOOST_TEST_REQUIRE(clients.back()->post(soap(op)));
      }
      clients.push_back(std::make_unique<client>(server.port()));
      BOOST_TEST_REQUIRE(clients.back()->send_raw("POST /EWS/Exchange.asmx HTTP/1.1\r\nContent-Length: 100\r\n\r\nhal"));
      clients.push_back(std::make_unique<client>(server.port()));  // connects, says nothing
      BOOST_TEST_REQUIRE(server.wait_for("", 4, wait_limit));
      BOOST_TEST(server.wait_for_responses("GetStreamingEvents", 1, wait_limit));
      const auto start = std::chrono::steady_clock::now();
      server.stop();
      const auto took = std::chrono::steady_clock::now() - start;
      BOOST_TEST_MESSAGE("stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
      BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() < 2000);
      BOOST_TEST(server.connections_open() == 0u);
    }
    // Every client sees its connection end.
    for (auto& c : clients) {
      raw_response r;
      c->read_to_end(r, std::chrono::milliseconds(10000));
      BOOST_TEST((r.eof || r.reset));
    }
  }
  BOOST_TEST(count_entries("/proc/self/task") == threads_before);
  BOOST_TEST(count_entries("/proc/self/fd") == fds_before);
}

BOOST_AUTO_TEST_CASE(bad_requests_are_answered_and_recorded_as_failures) {
  et::replay_server server;
  client c(server.port());
  BOOST_TEST_REQUIRE(c.send_raw("GARBAGE\r\n\r\n"));
  auto r = c.read_response();
  BOOST_TEST(r.status == 400);
  et::server_options small;
  small.max_request_bytes = 10;
  et::replay_server tiny({}, small);
  client d(tiny.port());
  BOOST_TEST_REQUIRE(d.post(soap("GetItem")));
  BOOST_TEST(d.read_response().status == 413);
  BOOST_TEST(!server.verify().ok);
  BOOST_TEST(tiny.verify().report().find("request body too large") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(many_short_connections_leave_nothing_open) {
  et::replay_server server;
  server.on("", [](const et::received_request&) { return et::soap_response("<ok/>"); });
  for (int i = 0; i < 200; ++i) {
    client c(server.port());
    BOOST_TEST_REQUIRE(c.post(soap("GetItem")));
    BOOST_TEST_REQUIRE(c.read_response().status == 200);
  }
  BOOST_TEST(server.wait_idle(wait_limit));
  BOOST_TEST(server.connections_accepted() == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- fixtures

namespace {

const std::filesystem::path scenarios_dir = std::filesystem::path(EWS_TEST_DIR) / "fixtures" / "scenarios";

std::string frame(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) {
    std::ostringstream size;
    size << std::hex << c.size();
    out += size.str() + "\r\n" + c + "\r\n";
  }
  return out + "0\r\n\r\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fixtures)

BOOST_AUTO_TEST_CASE(every_scenario_folder_loads) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scenarios_dir)) {
    if (!std::filesystem::exists(entry.path() / "manifest")) continue;
    auto s = et::load_scenario(entry.path().string());
    BOOST_TEST(s.has_value(), entry.path().filename().string() << ": " << (s ? "" : s.error().message));
    if (s) BOOST_TEST(!s->exchanges.empty(), entry.path().filename().string());
    ++n;
  }
  BOOST_TEST(n >= 8u);
}

BOOST_AUTO_TEST_CASE(gromox_stream_is_replayed_with_the_captured_chunk_framing) {
  auto s = et::load_scenario((scenarios_dir / "gromox-stream-and-fetch").string());
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  const auto wire = std::filesystem::path(EWS_TEST_DIR) / "fixtures" / "wire" / "gromox-captures";
  et::replay_server server(std::move(*s));
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(read_file(wire / "01-subscribe.request.xml")));
  auto sub = c.read_response();
  BOOST_TEST(sub.status == 200);
  BOOST_TEST(sub.body == read_file(wire / "01-subscribe.response.xml"));
  BOOST_TEST(sub.body.find("<m:SubscriptionId>AQAAAAUAAAA=</m:SubscriptionId>") != std::string::npos);
  BOOST_TEST_REQUIRE(c.post(read_file(wire / "02-getstreamingevents.request.xml")));
  auto stream = c.read_response();
  BOOST_TEST(stream.complete);
  BOOST_TEST(stream.chunks.size() == 5u);
  BOOST_TEST(frame(stream.chunks) == read_file(wire / "02-getstreamingevents.response.raw"));
  BOOST_TEST(stream.body.find("<t:NewMailEvent>") != std::string::npos);
  BOOST_TEST_REQUIRE(c.post(read_file(wire / "04-getitem.request.xml")));
  BOOST_TEST(c.read_response().body == read_file(wire / "04-getitem.response.xml"));
  BOOST_TEST(!server.verify().ok);  // two exchanges not requested yet
  BOOST_TEST(server.verify().failures.size() == 2u);
}

BOOST_AUTO_TEST_CASE(assembled_exchange_stream_splits_an_envelope_and_holds_the_socket) {
  auto s = et::load_scenario((scenarios_dir / "exchange2016-assembled-stream").string());
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  et::replay_server server(std::move(*s));
  client c(server.port());
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  std::vector<std::string> chunks;
  bool held = false;
  c.on_chunk = [&](const std::string& d) {
    chunks.push_back(d);
    if (chunks.size() == 5) held = c.silent_for(100ms);
  };
  c.max_chunks = 5;
  auto r = c.read_response();
  BOOST_TEST_REQUIRE(chunks.size() == 5u);
  BOOST_TEST(held);
  BOOST_TEST(!r.complete);
  BOOST_TEST(chunks[0].rfind("<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">", 0) == 0u);
  BOOST_TEST(chunks[0].find("<m:ConnectionStatus>OK</m:ConnectionStatus>") != std::string::npos);
  const auto notification = chunks[1] + chunks[2];
  BOOST_TEST(chunks[1].find("</Envelope>") == std::string::npos);  // cut mid-envelope
  BOOST_TEST(notification.find("<t:SubscriptionId>FwBleGNoMDMuYm9va2luZ2J1Zy5sb2NhbBAAAACRSuDZ7LUVRZRdTUGgj8dRTln61/P61ggQAAAAXGkYiHJpukmWTKXM27pVgQ==</t:SubscriptionId>") != std::string::npos);
  BOOST_TEST(chunks[4].find("<m:ConnectionStatus>Closed</m:ConnectionStatus>") != std::string::npos);
  c.close();
  BOOST_TEST(server.wait_idle(wait_limit));
  BOOST_TEST(server.verify().ok, server.verify().report());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- record

BOOST_AUTO_TEST_SUITE(record)

BOOST_AUTO_TEST_CASE(redaction_keeps_names_and_drops_secrets) {
  const auto h = et::redact_headers({{"Authorization", "Basic dXNlcjpwYXNz"},
                                     {"Set-Cookie", "X-BackEndOverrideCookie=BE1~abc; path=/; secure"},
                                     {"X-Access-Token", "t0ken"},
                                     {"Content-Type", "text/xml"}});
  BOOST_TEST(h[0].value == "REDACTED");
  BOOST_TEST(h[1].value == "X-BackEndOverrideCookie=REDACTED; path=/; secure");
  BOOST_TEST(h[2].value == "REDACTED");
  BOOST_TEST(h[3].value == "text/xml");
  BOOST_TEST(et::redact_body("<a><t:Password>hunter2</t:Password><AccessToken x=\"1\">abc</AccessToken><b>keep</b></a>") ==
             "<a><t:Password>REDACTED</t:Password><AccessToken x=\"1\">REDACTED</AccessToken><b>keep</b></a>");
}

BOOST_AUTO_TEST_CASE(recorded_then_replayed_gives_the_same_bytes) {
  et::scenario original;
  auto sub = et::soap_response(soap("SubscribeResponse", "<m:SubscriptionId>SUB-1</m:SubscriptionId>"));
  sub.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=BE42~secret; path=/"});
  original.exchanges.push_back(ex("Subscribe", sub));
  original.exchanges.push_back(ex("GetStreamingEvents",
                                  et::streaming_response({ch("<Envelope>one</Envelope>"),
                                                          ch("<Envelope>two</Envelope>", 30ms),
                                                          ch("<Envelope>Closed</Envelope>", 30ms)})));
  original.exchanges.push_back(ex("GetItem", et::soap_response(soap("GetItemResponse", "<t:Subject>Hi</t:Subject>"))));
  original.exchanges.push_back(ex("GetItem", et::soap_response(soap("GetItemResponse", "ErrorItemNotFound"), 500)));

  const std::vector<std::pair<std::string, std::vector<std::string>>> session = {
      {soap("Subscribe", "<t:Password>hunter2</t:Password>"), {"Authorization: Basic c2VjcmV0", "X-AnchorMailbox: a@example.com"}},
      {soap("GetStreamingEvents"), {"Authorization: Basic c2VjcmV0", "Cookie: X-BackEndOverrideCookie=BE42~secret"}},
      {soap("GetItem"), {"Authorization: Basic c2VjcmV0"}},
      {soap("GetItem"), {"Authorization: Basic c2VjcmV0"}},
  };
  auto play = [&](std::uint16_t port) {
    std::vector<std::string> bodies;
    client c(port);
    for (const auto& [body, headers] : session) {
      BOOST_TEST_REQUIRE(c.post(body, headers));
      auto r = c.read_response();
      BOOST_TEST(r.complete);
      bodies.push_back(std::to_string(r.status) + " " + r.body);
    }
    return bodies;
  };

  temp_dir dir;
  std::vector<std::string> through_proxy;
  {
    et::replay_server upstream(original);
    et::recorder_options ro;
    ro.upstream = upstream.url();
    ro.name = "round-trip";
    et::recorder rec(ro);
    through_proxy = play(rec.port());
    BOOST_TEST(upstream.verify().ok, upstream.verify().report());
    // The upstream got the credentials; the recording must not keep them.
    BOOST_TEST(ews::soap::find_header(upstream.received()[0].headers, "Authorization").value_or("") == "Basic c2VjcmV0");
    rec.stop();
    const auto recorded = rec.recorded();
    BOOST_TEST_REQUIRE(recorded.exchanges.size() == 4u);
    BOOST_TEST(recorded.exchanges[1].respond.chunks.size() >= 1u);
    BOOST_TEST_REQUIRE(et::save_scenario(recorded, dir.path.string()).has_value());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    const auto text = read_file(entry.path());
    for (const char* secret : {"c2VjcmV0", "hunter2", "BE42~secret"})
      BOOST_TEST(text.find(secret) == std::string::npos, entry.path().filename().string() << " keeps " << secret);
  }
  auto loaded = et::load_scenario(dir.path.string());
  BOOST_TEST_REQUIRE(loaded.has_value(), (loaded ? "" : loaded.error().message));
  BOOST_TEST(loaded->name == "round-trip");
  et::replay_server replay(std::move(*loaded));
  const auto replayed = play(replay.port());
  BOOST_TEST(replay.verify().ok, replay.verify().report());

  // Same bytes as the original server sent, both through the proxy and replayed.
  et::replay_server reference(original);
  const auto direct = play(reference.port());
  BOOST_TEST(through_proxy == direct);
  BOOST_TEST(replayed == direct);
  BOOST_TEST(direct[1] == "200 <Envelope>one</Envelope><Envelope>two</Envelope><Envelope>Closed</Envelope>");
  BOOST_TEST(direct[3].rfind("500 ", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- ews-replay

extern char** environ;

namespace {

// Runs ews-replay with stdout on a pipe; the process is always reaped.
class replay_process {
 public:
  explicit replay_process(std::vector<std::string> args) {
    int out[2];
    BOOST_REQUIRE(::pipe(out) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    args.insert(args.begin(), EWS_REPLAY_BIN);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, EWS_REPLAY_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    out_ = out[0];
    BOOST_REQUIRE(rc == 0);
  }
  ~replay_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }
  // The first stdout line (bounded wait).
  std::string line(std::chrono::milliseconds timeout = wait_limit) {
    std::string s;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (s.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      s.append(buf, static_cast<std::size_t>(n));
    }
    return s.substr(0, s.find('\n'));
  }
  // Sends `sig` and returns the exit status (-1 if it did not exit in time).
  int stop(int sig) {
    ::kill(pid_, sig);
    return wait();
  }
  int wait() {
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      ::poll(nullptr, 0, 50);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(command)

BOOST_AUTO_TEST_CASE(serve_prints_the_url_and_stops_on_sigterm) {
  replay_process p({"serve", (scenarios_dir / "exchange2016-stream").string()});
  const auto url = p.line();
  BOOST_TEST_REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0u, url);
  const auto port = static_cast<std::uint16_t>(std::stoi(url.substr(17)));
  BOOST_TEST(url.substr(url.find('/', 17)) == "/EWS/Exchange.asmx");
  client c(port);
  BOOST_TEST_REQUIRE(c.post(soap("GetStreamingEvents")));
  auto r = c.read_response();
  BOOST_TEST(r.chunks.size() == 2u);
  BOOST_TEST(r.body.find("<m:ConnectionStatus>Closed</m:ConnectionStatus>") != std::string::npos);
  BOOST_TEST(p.stop(SIGTERM) == 0);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  BOOST_TEST(replay_process({"serve"}).wait() == 2);
  BOOST_TEST(replay_process({"record", "--out", "x"}).wait() == 2);
  BOOST_TEST(replay_process({"serve", "d", "--port", "70000"}).wait() == 2);
  BOOST_TEST(replay_process({"frobnicate"}).wait() == 2);
  BOOST_TEST(replay_process({"serve", "/nonexistent-scenario"}).wait() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
