#pragma once
/// @file
/// A scripted in-memory ews::soap::transport for unit tests: canned answers
/// for send(), streams whose pieces the test pushes when it wants, and a
/// record of every request.
///
///     auto http = std::make_shared<ews::test::fake_transport>();
///     http->respond(200, subscribe_ok_xml)
///          .respond(500, server_busy_fault_xml);
///     auto s = http->expect_stream();          // the next open_stream()
///     ... code under test opens the stream ...
///     s->push(envelope_1);                      // on_data on the fake's thread
///     BOOST_TEST(s->wait_delivered());
///     s->end();
///     BOOST_TEST(http->requests().size() == 3);
///
/// Observer calls come from one delivery thread owned by the fake (as a real
/// transport calls from its own threads), one at a time per stream, in order.
/// on_data returning false pauses that stream until stream::resume().

#include <ews/soap/transport.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ews::test {

class fake_transport;

/// The test's side of one streaming response.
class fake_stream {
 public:
  /// Queues a piece of body; delivered to on_data in order.
  void push(std::string piece);
  /// Queues a clean end of the body: on_end(nullopt).
  void end();
  /// Queues a failure: on_end(error).
  void fail(error_info error);

  /// Waits until every queued piece was handed to on_data (true), or the
  /// stream is paused or over with pieces left (false), or the timeout.
  bool wait_delivered(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  /// Waits until open_stream() took this stream.
  bool wait_opened(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  /// Waits until on_end was delivered.
  bool wait_ended(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  bool opened() const;
  bool paused() const;      ///< on_data returned false and no resume() since
  bool cancelled() const;   ///< stream::cancel() (or destruction) was called
  bool ended() const;       ///< on_end was delivered
  std::size_t delivered() const;  ///< pieces handed to on_data so far
  /// The request that opened it (empty request before that).
  soap::http_request request() const;

 private:
  friend class fake_transport;
  struct event {
    enum kind_t { data, end } kind;
    std::string bytes;
    std::optional<error_info> error;
  };

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  soap::http_response_head head_;
  std::optional<error_info> open_error_;  // ends at once, no on_head
  std::shared_ptr<soap::stream_observer> observer_;
  soap::http_request request_;
  std::deque<event> events_;
  bool opened_ = false;
  bool head_sent_ = false;
  bool paused_ = false;
  bool cancelled_ = false;
  bool ended_ = false;
  bool in_call_ = false;
  std::size_t delivered_ = 0;
  std::function<void()> wake_;  // schedules delivery on the fake's thread
};

class fake_transport final : public soap::transport {
 public:
  using handler = std::function<result<soap::http_response>(const soap::http_request&)>;

  fake_transport();
  /// Ends every open stream (on_end(cancelled)) and joins the delivery thread.
  ~fake_transport() override;
  fake_transport(const fake_transport&) = delete;
  fake_transport& operator=(const fake_transport&) = delete;

  // ---- send(): answers in order; each answers one request -------------------
  fake_transport& respond(int status, std::string body = {}, soap::http_headers headers = {});
  fake_transport& respond(soap::http_response response);
  /// send() returns this error (a transport failure).
  fake_transport& fail(error_info error);
  /// Computes the answer from the request (one request).
  fake_transport& respond_with(handler h);
  /// Answers every request once the queue is empty. Without one, a request
  /// with no answer left gets errc::unexpected_response naming it.
  void set_fallback(handler h);
  std::size_t pending_answers() const;

  // ---- open_stream(): streams in order ---------------------------------------
  /// The next open_stream() gets this stream: on_head with `status` and
  /// `headers`, then whatever the test pushes. Unexpected open_stream()
  /// calls get a fresh 200 stream (see opened_streams()).
  std::shared_ptr<fake_stream> expect_stream(int status = 200, soap::http_headers headers = {});
  /// The next open_stream() ends at once with `error` (no on_head).
  std::shared_ptr<fake_stream> expect_stream_failure(error_info error);
  /// Every stream open_stream() handed out, in order.
  std::vector<std::shared_ptr<fake_stream>> opened_streams() const;
  /// Waits until at least `n` streams were opened.
  bool wait_for_streams(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  // ---- what was sent ---------------------------------------------------------
  /// Every request of send() and open_stream(), in call order.
  std::vector<soap::http_request> requests() const;
  std::size_t request_count() const;
  /// The last request (throws std::logic_error when there is none).
  soap::http_request last_request() const;
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  // ---- soap::transport -------------------------------------------------------
  result<soap::http_response> send(const soap::http_request& request, const context& ctx) override;
  std::unique_ptr<soap::stream> open_stream(const soap::http_request& request,
                                            std::shared_ptr<soap::stream_observer> observer) override;

 private:
  class handle;
  void schedule(std::shared_ptr<fake_stream> s);
  void run();
  // Delivers one thing of `s` if it can; true if it did.
  static bool step(fake_stream& s);

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<handler> answers_;
  handler fallback_;
  std::deque<std::shared_ptr<fake_stream>> expected_streams_;
  std::vector<std::shared_ptr<fake_stream>> opened_;
  std::vector<soap::http_request> requests_;
  std::deque<std::shared_ptr<fake_stream>> ready_;  // streams with work for the thread
  bool stopping_ = false;
  std::thread thread_;  // last: started after everything above exists
};

/// Shorthand for a response value.
soap::http_response make_response(int status, std::string body = {}, soap::http_headers headers = {});

}  // namespace ews::test
