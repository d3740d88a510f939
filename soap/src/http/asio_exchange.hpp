#pragma once
// Private: one HTTP exchange of the asio engine: connect (or reuse a pooled
// connection), write the request, then parse the response as bytes arrive
// and hand it to a stream_observer. Both transport::send (collecting the
// body where it stays, see body_collector) and streams run on it.
//
// Every handler runs on the exchange's strand, so observer calls are
// serialised without a lock held around them. Reads use the connection's
// reused buffer and one Beast parser; the body goes from that buffer straight
// into the parser's body string, one copy: for a stream it is the piece
// handed to on_data (then cleared, its capacity kept), for send() the
// response body itself. Inactivity is checked by one timer per connection
// that looks at a last-activity time stamp, re-armed only when it fires, not
// per read.

#include <ews/logging.hpp>
#include <ews/soap/transport.hpp>

#include "http/asio_append_body.hpp"
#include "http/asio_connection.hpp"
#include "http/asio_errors.hpp"
#include "http/asio_pool.hpp"
#include "http/asio_runtime.hpp"
#include "http/url.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ews::soap::detail {

/// An observer that takes the whole body at once (moved), instead of
/// on_data pieces: send() does, so the body is written where it stays.
class body_collector : public stream_observer {
 public:
  /// Called once before on_end(nullopt).
  virtual void on_body(std::string&& body) = 0;
  bool on_data(std::string_view) override { return true; }
};

struct asio_exchange_options {
  std::chrono::milliseconds inactivity_timeout{100000};
  std::chrono::milliseconds connect_timeout{30000};
  /// For a body_collector: the largest body (errc::response_too_large).
  std::size_t max_body = SIZE_MAX;
  /// For a body_collector: memory to build the body in (see
  /// http_request::body_buffer); taken by the first response read.
  std::string body_storage;
  logger log;
};

class asio_exchange : public std::enable_shared_from_this<asio_exchange> {
 public:
  /// `connection`: a pooled one (`reused`) or a new unconnected one.
  /// `pool`: where a kept-alive connection goes back after a whole
  /// response (null for streams: their connection is closed at the end).
  /// `collector`: set for send(); `observer` is then the same object.
  asio_exchange(std::shared_ptr<asio_runtime> runtime, std::shared_ptr<asio_pool> pool,
                std::shared_ptr<boost::asio::ssl::context> tls, parsed_url url, std::unique_ptr<asio_connection> connection,
                bool reused, std::string wire_request, std::shared_ptr<stream_observer> observer,
                body_collector* collector, asio_exchange_options options);
  asio_exchange(const asio_exchange&) = delete;
  asio_exchange& operator=(const asio_exchange&) = delete;
  ~asio_exchange();

  /// Sends the request; the observer hears about the rest.
  void start();
  /// Ends with `error` without sending anything (on the strand, like every
  /// observer call).
  void fail(error_info error);
  /// Closes the socket; on_end(cancelled) follows.
  void cancel();
  /// Continues reading after on_data returned false.
  void resume();
  /// Cancels, waits up to `bound` for on_end, then makes sure no observer
  /// call is running or will start. Safe to call from inside an observer
  /// call, and from any of the engine's threads (does not wait for the
  /// strand then, which may need that very thread).
  void close(std::chrono::milliseconds bound);

 private:
  using parser_type = boost::beast::http::response_parser<append_body>;

  void begin();
  void connect();
  void on_resolved(const boost::system::error_code& ec, boost::asio::ip::tcp::resolver::results_type results);
  void on_connected(const boost::system::error_code& ec);
  void on_handshake(const boost::system::error_code& ec);
  void write();
  void on_written(const boost::system::error_code& ec);
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  /// Parses what the buffer holds and delivers it; reads more, completes or
  /// stops (paused, failed).
  void parse();
  /// Hands the stream piece to on_data; false when reading must stop.
  bool deliver_piece();
  void deliver_head();
  void failed(const boost::system::error_code& ec, asio_step step);
  void finish(std::optional<error_info> error, bool keep_connection = false);

  bool cancel_requested();
  void arm_timer(std::chrono::steady_clock::time_point at);
  void on_timer(const boost::system::error_code& ec, std::uint64_t generation);

  template <class F>
  bool call_observer(F&& f);
  template <class Handler>
  auto on_strand(Handler&& h);

  // Fixed at construction.
  std::shared_ptr<asio_runtime> runtime_;  // first: outlives the socket below
  std::shared_ptr<asio_pool> pool_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // for a fresh connection on retry
  parsed_url url_;
  std::string origin_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::string wire_;
  std::shared_ptr<stream_observer> observer_;
  body_collector* collector_;
  asio_exchange_options options_;

  // Strand only.
  std::unique_ptr<asio_connection> conn_;
  std::optional<boost::asio::ip::tcp::resolver> resolver_;
  std::optional<parser_type> parser_;
  bool reused_;
  bool retried_ = false;
  bool op_pending_ = false;  // a socket operation (or resolve) is outstanding
  bool paused_ = false;
  bool connecting_ = false;
  bool timed_out_ = false;
  bool done_ = false;        // finish() ran
  bool head_delivered_ = false;
  std::size_t bytes_read_ = 0;  // from the socket, this exchange
  std::size_t body_bytes_ = 0;   // handed to on_data so far (streams)
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point connect_deadline_;
  std::uint64_t timer_generation_ = 0;

  // Shared with other threads.
  std::mutex mutex_;
  std::condition_variable changed_;
  bool cancel_requested_ = false;
  bool finished_ = false;  // on_end delivered (or skipped because closed)
  bool closed_ = false;    // no observer call may start
  int calls_running_ = 0;
};

}  // namespace ews::soap::detail
