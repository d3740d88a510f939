#include "http/asio_exchange.hpp"

#include "http/cookies.hpp"
#include "http/redact.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <limits>

namespace ews::soap::detail {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using steady = std::chrono::steady_clock;

// The exchange whose observer this thread is calling right now, so that a
// close() from inside a callback (an observer dropping its stream in on_end)
// does not wait for itself.
thread_local const asio_exchange* calling_observer_of = nullptr;

// A stream's piece is handed to on_data once it is this large, or when the
// buffer is drained, whichever comes first.
constexpr std::size_t piece_bytes = 16 * 1024;
// What one read asks the kernel for: streams carry small envelopes; send()
// reads whole GetItem batches, where fewer reads cost fewer system calls.
constexpr std::size_t stream_read_bytes = 16 * 1024;
constexpr std::size_t send_read_bytes = 64 * 1024;
// Exchange sends larger heads than Beast's 8 KB default allows (cookies,
// diagnostics headers); a megabyte of head is no longer a server.
constexpr std::uint32_t header_limit = 256 * 1024;

}  // namespace

asio_exchange::asio_exchange(std::shared_ptr<asio_runtime> runtime, std::shared_ptr<asio_pool> pool,
                             std::shared_ptr<asio::ssl::context> tls, parsed_url url, std::unique_ptr<asio_connection> connection,
                             bool reused, std::string wire_request, std::shared_ptr<stream_observer> observer,
                             body_collector* collector, asio_exchange_options options)
    : runtime_(std::move(runtime)),
      pool_(std::move(pool)),
      tls_(std::move(tls)),
      url_(std::move(url)),
      origin_(url_.origin()),
      strand_(asio::make_strand(runtime_->context())),
      wire_(std::move(wire_request)),
      observer_(std::move(observer)),
      collector_(collector),
      options_(std::move(options)),
      conn_(std::move(connection)),
      reused_(reused) {}

asio_exchange::~asio_exchange() = default;

template <class F>
bool asio_exchange::call_observer(F&& f) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    ++calls_running_;
  }
  const asio_exchange* outer = calling_observer_of;
  calling_observer_of = this;
  std::exception_ptr failure;
  try {
    f();
  } catch (...) {
    failure = std::current_exception();
  }
  calling_observer_of = outer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --calls_running_;
  }
  changed_.notify_all();
  if (failure) std::rethrow_exception(failure);
  return true;
}

bool asio_exchange::cancel_requested() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancel_requested_;
}

template <class Handler>
auto asio_exchange::on_strand(Handler&& h) {
  return asio::bind_executor(strand_, std::forward<Handler>(h));
}

// ---- starting and connecting -------------------------------------------------------

void asio_exchange::start() {
  asio::post(strand_, [self = shared_from_this()] { self->begin(); });
}

void asio_exchange::fail(error_info error) {
  asio::post(strand_, [self = shared_from_this(), error = std::move(error)] { self->finish(error); });
}

void asio_exchange::begin() {
  if (done_) return;
  if (conn_->socket().is_open()) {
    write();
  } else {
    connect();
  }
}

void asio_exchange::connect() {
  connecting_ = true;
  connect_deadline_ = steady::now() + options_.connect_timeout;
  arm_timer(connect_deadline_);
  op_pending_ = true;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(url_.host, ec);
  if (!ec) {  // an IP literal needs no resolver (and no resolver thread)
    conn_->socket().async_connect(asio::ip::tcp::endpoint(address, url_.port),
                                  on_strand([self = shared_from_this()](const boost::system::error_code& e) {
                                    self->on_connected(e);
                                  }));
    return;
  }
  resolver_.emplace(runtime_->context());
  resolver_->async_resolve(url_.host, std::to_string(url_.port),
                           on_strand([self = shared_from_this()](const boost::system::error_code& e,
                                                                 asio::ip::tcp::resolver::results_type results) {
                             self->on_resolved(e, std::move(results));
                           }));
}

void asio_exchange::on_resolved(const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type results) {
  op_pending_ = false;
  if (done_) return;
  if (ec) return failed(ec, asio_step::connect);
  op_pending_ = true;
  asio::async_connect(conn_->socket(), results,
                      on_strand([self = shared_from_this()](const boost::system::error_code& e,
                                                            const asio::ip::tcp::endpoint&) { self->on_connected(e); }));
}

void asio_exchange::on_connected(const boost::system::error_code& ec) {
  op_pending_ = false;
  if (done_) return;
  if (ec) return failed(ec, asio_step::connect);
  boost::system::error_code ignored;
  conn_->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  if (!conn_->is_tls()) {
    connecting_ = false;
    return write();
  }
  if (!conn_->prepare_tls()) {
    return finish(make_error(errc::tls_failure, "cannot set up TLS host name verification for " + url_.host));
  }
  op_pending_ = true;
  conn_->tls().async_handshake(asio::ssl::stream_base::client,
                               on_strand([self = shared_from_this()](const boost::system::error_code& e) {
                                 self->on_handshake(e);
                               }));
}

void asio_exchange::on_handshake(const boost::system::error_code& ec) {
  op_pending_ = false;
  if (done_) return;
  if (ec) return failed(ec, asio_step::handshake);
  connecting_ = false;
  write();
}

// ---- the request and the response ------------------------------------------------------

void asio_exchange::write() {
  last_activity_ = steady::now();
  arm_timer(last_activity_ + options_.inactivity_timeout);
  op_pending_ = true;
  conn_->with_stream([&](auto& s) {
    asio::async_write(s, asio::buffer(wire_),
                      on_strand([self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                        self->on_written(e);
                      }));
  });
}

void asio_exchange::on_written(const boost::system::error_code& ec) {
  op_pending_ = false;
  if (done_) return;
  if (ec) return failed(ec, asio_step::write);
  parser_.emplace();
  if (collector_ != nullptr) {
    parser_->get().body() = std::move(options_.body_storage);
    parser_->get().body().clear();  // its capacity is what the caller lent
  }
  // Not eager until the head is handled: put() stops after the head, so an
  // oversize body is refused before any of it is taken.
  parser_->eager(false);
  parser_->header_limit(header_limit);
  // send() refuses a larger body (an announced Content-Length before any of
  // it is read). Streams never end. Not boost::none: Beast 1.74 compares a
  // Content-Length against an empty optional as if the limit were zero.
  parser_->body_limit(collector_ != nullptr ? static_cast<std::uint64_t>(options_.max_body)
                                            : std::numeric_limits<std::uint64_t>::max());
  parse();
}

void asio_exchange::read() {
  op_pending_ = true;
  auto space = conn_->buffer().prepare(collector_ != nullptr ? send_read_bytes : stream_read_bytes);
  conn_->with_stream([&](auto& s) {
    s.async_read_some(space, on_strand([self = shared_from_this()](const boost::system::error_code& e,
                                                                   std::size_t n) { self->on_read(e, n); }));
  });
}

void asio_exchange::on_read(const boost::system::error_code& ec, std::size_t n) {
  op_pending_ = false;
  if (done_) return;
  // One clock read per read: the inactivity timer looks at this.
  last_activity_ = steady::now();
  if (n > 0) {
    conn_->buffer().commit(n);
    bytes_read_ += n;
  }
  if (!ec) return parse();
  if (cancel_requested()) return finish(std::nullopt);
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    // A body delimited by the end of the connection ends here; anything
    // else is cut short (put_eof says which).
    boost::system::error_code eof;
    if (conn_->buffer().size() == 0 && parser_->is_header_done()) parser_->put_eof(eof);
    else eof = http::error::partial_message;
    if (!eof && parser_->is_done()) {
      if (!deliver_piece()) return;
      return finish(std::nullopt, false);
    }
    return failed(bytes_read_ == 0 ? ec : eof, asio_step::read);
  }
  failed(ec, asio_step::read);
}

void asio_exchange::parse() {
  auto& buffer = conn_->buffer();
  for (;;) {
    if (parser_->is_done()) break;
    if (buffer.size() == 0) {
      if (!deliver_piece()) return;
      return read();
    }
    boost::system::error_code ec;
    const std::size_t used = parser_->put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::body_limit) {
      error_info e = make_error(errc::response_too_large,
                                "response body larger than " + std::to_string(options_.max_body) + " bytes");
      e.http_status = parser_->get().result_int();
      return finish(e);
    }
    if (!head_delivered_ && parser_->is_header_done()) {
      deliver_head();
      if (done_) return;
      parser_->eager(true);  // from now on, all that is buffered in one put()
    }
    if (ec == http::error::need_more || (!ec && used == 0)) {
      if (!deliver_piece()) return;
      return read();
    }
    if (ec) return failed(ec, asio_step::read);
    if (collector_ == nullptr && parser_->get().body().size() >= piece_bytes && !deliver_piece()) return;
  }
  // The whole response is in.
  if (!deliver_piece()) return;
  finish(std::nullopt, parser_->keep_alive() && buffer.size() == 0);
}

void asio_exchange::deliver_head() {
  head_delivered_ = true;
  const auto& message = parser_->get();
  http_response_head head;
  head.status = message.result_int();
  head.reason = std::string(message.reason());
  for (const auto& field : message.base()) {
    head.headers.push_back(http_header{std::string(field.name_string()), std::string(field.value())});
  }
  head.cookies = cookies_from_headers(head.headers);
  if (options_.log.enabled(log_level::trace)) options_.log(log_level::trace, "<< " + trace_response(head, {}));
  if (collector_ != nullptr) {
    // Refuse an announced oversize body before reading any of it (Beast's
    // body_limit did not stop a Content-Length body here, measured).
    if (const auto length = parser_->content_length(); length && *length > options_.max_body) {
      error_info e = make_error(errc::response_too_large, "response body of " + std::to_string(*length) +
                                                              " bytes announced, larger than " +
                                                              std::to_string(options_.max_body));
      e.http_status = head.status;
      return finish(e);
    }
  }
  try {
    call_observer([&] { observer_->on_head(head); });
  } catch (...) {
    finish(make_error(errc::handler_failed, "stream observer threw in on_head"));
  }
}

bool asio_exchange::deliver_piece() {
  if (collector_ != nullptr || !parser_ || parser_->get().body().empty()) return true;
  std::string& piece = parser_->get().body();
  body_bytes_ += piece.size();
  bool more = true;
  bool ran = false;
  try {
    ran = call_observer([&] { more = observer_->on_data(piece); });
    piece.clear();  // keeps its capacity: the next piece needs no allocation
  } catch (...) {
    finish(make_error(errc::handler_failed, "stream observer threw in on_data"));
    return false;
  }
  if (!ran) {
    // Closed from outside: its cancel is queued on this strand and ends it.
    paused_ = true;
    return false;
  }
  if (!more) {
    paused_ = true;  // no read is pending now: the socket is left alone until resume()
    return false;
  }
  return true;
}

// ---- endings ----------------------------------------------------------------------------

void asio_exchange::failed(const boost::system::error_code& ec, asio_step step) {
  if (cancel_requested() || timed_out_) return finish(std::nullopt);
  // A kept-alive connection the server closed while it was idle fails
  // before any response byte: try once more on a fresh one.
  if (reused_ && !retried_ && bytes_read_ == 0 && (step == asio_step::write || step == asio_step::read)) {
    retried_ = true;
    reused_ = false;
    conn_->close();
    conn_ = std::make_unique<asio_connection>(runtime_->context(), url_, tls_.get());
    if (options_.log.enabled(log_level::debug)) {
      options_.log(log_level::debug, "kept-alive connection to " + origin_ + " failed (" + ec.message() +
                                         "); retrying on a new connection");
    }
    return connect();
  }
  finish(classify_asio_failure(ec, step, head_delivered_));
}

void asio_exchange::finish(std::optional<error_info> error, bool keep_connection) {
  if (done_) return;
  done_ = true;
  paused_ = false;
  ++timer_generation_;
  if (resolver_) resolver_->cancel();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancel_requested_) error = make_error(errc::cancelled, "cancelled by the caller");
  }
  if (timed_out_ && !(error && error->kind() == errc::cancelled)) {
    error = connecting_ ? make_error(errc::connect_failed,
                                     "no connection within the connect timeout (" +
                                         std::to_string(options_.connect_timeout.count()) + " ms)",
                                     true)
                        : make_error(errc::timeout, "no data within the inactivity timeout", true);
  }
  if (conn_) {
    conn_->timer().cancel();
    if (!error && keep_connection && pool_) {
      pool_->put(origin_, std::move(conn_));
    } else {
      conn_->close();
    }
  }
  // A whole body (send()) was counted nowhere else.
  if (!error && collector_ != nullptr) body_bytes_ = parser_->get().body().size();
  if (options_.log.enabled(log_level::debug)) {
    options_.log(log_level::debug, "HTTP exchange ended after " + std::to_string(body_bytes_) + " body bytes" +
                                       (error ? ": " + error->message : std::string()));
  }
  try {
    if (!error && collector_ != nullptr) {
      call_observer([&] { collector_->on_body(std::move(parser_->get().body())); });
    }
    call_observer([&] { observer_->on_end(error); });
  } catch (...) {
    // Nothing left to report it to; the exchange is over anyway.
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  changed_.notify_all();
}

void asio_exchange::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || cancel_requested_) return;
    cancel_requested_ = true;
  }
  asio::post(strand_, [self = shared_from_this()] {
    if (self->done_) return;
    if (self->resolver_) self->resolver_->cancel();
    if (self->conn_) self->conn_->close();  // the pending operation ends with an error and finishes
    if (!self->op_pending_) self->finish(std::nullopt);  // paused or not started: nothing else will
  });
}

void asio_exchange::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || cancel_requested_ || closed_) return;
  }
  asio::post(strand_, [self = shared_from_this()] {
    if (self->done_ || !self->paused_) return;
    self->paused_ = false;
    self->last_activity_ = steady::now();
    self->parse();
  });
}

void asio_exchange::close(std::chrono::milliseconds bound) {
  cancel();
  std::unique_lock<std::mutex> lock(mutex_);
  const bool inside = calling_observer_of == this;
  // On one of the engine's threads the strand may need this very thread to
  // run the cancel: do not wait for on_end then (it is skipped once closed).
  if (!inside && !runtime_->runs_this_thread()) {
    changed_.wait_for(lock, bound, [&] { return finished_; });
  }
  closed_ = true;
  // The observer's own code may still be running (on another thread): it
  // must end before the owner may assume the observer is no longer used.
  if (!inside) changed_.wait(lock, [&] { return calls_running_ == 0; });
}

// ---- inactivity -------------------------------------------------------------------------

void asio_exchange::arm_timer(steady::time_point at) {
  const std::uint64_t generation = ++timer_generation_;
  conn_->timer().expires_at(at);
  conn_->timer().async_wait(on_strand([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    self->on_timer(ec, generation);
  }));
}

void asio_exchange::on_timer(const boost::system::error_code& ec, std::uint64_t generation) {
  if (ec == asio::error::operation_aborted || generation != timer_generation_ || done_) return;
  const auto now = steady::now();
  if (connecting_) {
    if (now < connect_deadline_) return arm_timer(connect_deadline_);
  } else if (paused_) {
    // Not reading on purpose: the server's silence is ours.
    return arm_timer(now + options_.inactivity_timeout);
  } else if (now - last_activity_ < options_.inactivity_timeout) {
    return arm_timer(last_activity_ + options_.inactivity_timeout);
  }
  timed_out_ = true;
  if (resolver_) resolver_->cancel();
  conn_->close();  // the pending operation ends with an error and finishes
}

}  // namespace ews::soap::detail
