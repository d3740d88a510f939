// set_http_engine_threads: cpprestsdk's thread pool is process-wide and made
// once, so this executable holds only this test: the pool does not exist
// when it starts. With one engine thread, a stream that stays open and
// ordinary requests beside it must still all be served (nothing of the
// transport may block an engine thread waiting for another).

#include <ews/soap/transport.hpp>
#include <ews/testing/replay_server.hpp>

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <mutex>

using namespace std::chrono_literals;
using ews::errc;
namespace soap = ews::soap;
namespace rt = ews::testing;

namespace {

std::string envelope(int n) {
  return "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body><n>" + std::to_string(n) +
         "</n></Body></Envelope>";
}

soap::http_request post(const std::string& url) {
  soap::http_request r;
  r.url = url;
  r.headers = {{"Content-Type", "text/xml; charset=utf-8"}};
  r.body = "<x/>";
  r.inactivity_timeout = 30s;
  return r;
}

rt::exchange answer(rt::response r) {
  rt::exchange e;
  e.respond = std::move(r);
  return e;
}

class collected final : public soap::stream_observer {
 public:
  void on_head(const soap::http_response_head&) override {}
  bool on_data(std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    data_ += bytes;
    changed_.notify_all();
    return true;
  }
  void on_end(const std::optional<ews::error_info>&) override {}
  bool wait_contains(const std::string& s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return data_.find(s) != std::string::npos; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string data_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(engine_threads_are_set_once_before_first_use_and_one_thread_serves_all) {
  for (std::size_t bad : {std::size_t{0}, soap::max_http_engine_threads + 1}) {
    const auto refused = soap::set_http_engine_threads(bad);
    BOOST_REQUIRE(!refused);
    BOOST_TEST((refused.error().kind() == errc::invalid_argument));
  }
  const auto set = soap::set_http_engine_threads(1);
  BOOST_REQUIRE_MESSAGE(set, (set ? "" : set.error().message));
  // Once only: a second call (even with the same size) is refused by name.
  const auto again = soap::set_http_engine_threads(1);
  BOOST_REQUIRE(!again);
  BOOST_TEST((again.error().kind() == errc::invalid_argument));
  BOOST_TEST(again.error().message.find("exists already") != std::string::npos, again.error().message);

  // A held-open stream whose second piece waits for a gate, and requests
  // beside it, on the one engine thread.
  rt::replay_server server;
  std::vector<rt::chunk> chunks(2);
  chunks[0].data = envelope(0);
  chunks[1].data = envelope(1);
  chunks[1].gate = "second";
  server.add(answer(rt::streaming_response(chunks, rt::ending::hold)));
  auto http = soap::make_http_transport();
  auto seen = std::make_shared<collected>();
  auto stream = http->open_stream(post(server.url()), seen);
  BOOST_REQUIRE(seen->wait_contains(envelope(0)));
  for (int i = 0; i < 3; ++i) {
    server.add(answer(rt::soap_response(envelope(100 + i))));
    auto res = http->send(post(server.url()), ews::context{});
    BOOST_REQUIRE_MESSAGE(res, (res ? "" : res.error().message));
    BOOST_TEST(res->body == envelope(100 + i));
  }
  server.release("second");
  BOOST_TEST(seen->wait_contains(envelope(1)));
  stream.reset();
}
