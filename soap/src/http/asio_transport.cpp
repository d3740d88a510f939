// The transport on Boost.Beast/Asio: its own io_context and threads, a few
// kept-alive connections per origin for send(), a connection of its own for
// each stream. Nothing of Beast or Asio reaches a public header.

#include <ews/soap/transport.hpp>

#include "http/asio_exchange.hpp"
#include "http/asio_pool.hpp"
#include "http/asio_runtime.hpp"
#include "http/engines.hpp"
#include "http/redact.hpp"
#include "http/request_rules.hpp"
#include "http/url.hpp"

#include <boost/asio/ssl/context.hpp>

#include <condition_variable>
#include <mutex>

namespace ews::soap::detail {
namespace {

// How long destroying a stream waits for the cancelled read to be reported
// (it takes one strand hop; the bound only matters if something misbehaves).
constexpr std::chrono::milliseconds close_bound = std::chrono::seconds(2);

// The request as it goes on the wire, in one buffer (one write).
result<std::string> wire_request(const http_request& request, const parsed_url& url) {
  if (auto method = check_method(request.method); !method) return std::move(method).error();
  std::string out;
  out.reserve(256 + request.body.size() + request.headers.size() * 64);
  out += request.method;
  out += ' ';
  out += url.target;
  out += " HTTP/1.1\r\nHost: ";
  out += url.authority();  // without the default port: with it, some servers see another name
  out += "\r\n";
  for (const auto& h : request.headers) {
    if (auto checked = check_header(h); !checked) return std::move(checked).error();
    if (engine_owned_header(h.name)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (auto type = body_content_type(request)) {
    out += "Content-Type: " + *type + "\r\n";
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  return out;
}

class asio_stream final : public stream {
 public:
  explicit asio_stream(std::shared_ptr<asio_exchange> ex) : ex_(std::move(ex)) {}
  ~asio_stream() override { ex_->close(close_bound); }
  void cancel() override { ex_->cancel(); }
  void resume() override { ex_->resume(); }

 private:
  std::shared_ptr<asio_exchange> ex_;
};

// Collects a whole response for send(); the body arrives moved, in one piece.
class collector final : public body_collector {
 public:
  void on_head(const http_response_head& head) override {
    std::lock_guard<std::mutex> lock(mutex_);
    response_.head = head;
  }
  void on_body(std::string&& body) override {
    std::lock_guard<std::mutex> lock(mutex_);
    response_.body = std::move(body);
  }
  void on_end(const std::optional<error_info>& error) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = error;
      done_ = true;
    }
    // Notified after unlocking: the woken send() would otherwise block at
    // once on the mutex still held here (a futex wait and wake more per
    // call, measured). The exchange holds this collector while it calls
    // on_end, so it outlives the notify even if send() has returned.
    changed_.notify_all();
  }
  // Under the mutex: send() checks ctx.cancelled() under it and then waits,
  // so a cancel between the two is not lost (it would sleep to the deadline).
  void wake() {
    std::lock_guard<std::mutex> lock(mutex_);
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  http_response response_;
  std::optional<error_info> error_;
  bool done_ = false;
};

class asio_transport final : public transport {
 public:
  asio_transport(http_transport_options options, std::shared_ptr<cert_store> store)
      : options_(std::move(options)),
        store_(std::move(store)),
        runtime_(std::make_shared<asio_runtime>(options_.threads)),
        tls_(std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client)),
        pool_(std::make_shared<asio_pool>(runtime_)) {
    store_->configure(tls_->native_handle());
    tls_->set_verify_mode(boost::asio::ssl::verify_peer);  // never off
  }

  result<http_response> send(const http_request& request, const context& ctx) override {
    auto url = check_url(request.url, options_.allow_insecure_http);
    if (!url) return std::move(url).error();
    if (ctx.done()) return context_error(ctx);
    auto wire = wire_request(request, *url);
    if (!wire) return std::move(wire).error();

    auto sink = std::make_shared<collector>();
    auto conn = pool_->take(url->origin());
    const bool reused = conn != nullptr;
    if (!conn) conn = std::make_unique<asio_connection>(runtime_->context(), *url, tls_.get());
    auto ex = std::make_shared<asio_exchange>(runtime_, pool_, tls_, std::move(*url), std::move(conn), reused,
                                              std::move(*wire), sink, sink.get(), exchange_options(request, true));
    trace(request);
    auto wake = ctx.on_cancel([sink] { sink->wake(); });
    ex->start();

    bool abandoned = false;
    {
      std::unique_lock<std::mutex> lock(sink->mutex_);
      auto finished = [&] { return sink->done_ || ctx.cancelled(); };
      if (auto deadline = ctx.deadline()) {
        sink->changed_.wait_until(lock, *deadline, finished);
      } else {
        sink->changed_.wait(lock, finished);
      }
      abandoned = !sink->done_;
    }
    if (abandoned) {
      ex->close(close_bound);
      std::lock_guard<std::mutex> lock(sink->mutex_);
      auto e = context_error(ctx);
      e.http_status = sink->response_.head.status;
      return e;
    }
    if (sink->error_) return *sink->error_;
    http_response response = std::move(sink->response_);
    if (options_.log.enabled(log_level::trace)) {
      options_.log(log_level::trace, "<< " + trace_response(response.head, response.body));
    }
    if (response.head.status >= 300 && response.head.status < 400) return http_status_error(response.head);
    return response;
  }

  std::unique_ptr<stream> open_stream(const http_request& request,
                                      std::shared_ptr<stream_observer> observer) override {
    auto url = check_url(request.url, options_.allow_insecure_http);
    result<std::string> wire = url ? wire_request(request, *url) : result<std::string>(url.error());
    if (!wire) {
      // Never throws: the error arrives like any other end.
      auto ex = std::make_shared<asio_exchange>(runtime_, nullptr, tls_, parsed_url{}, nullptr, false, std::string(),
                                                std::move(observer), nullptr, exchange_options(request, false));
      ex->fail(wire.error());
      return std::make_unique<asio_stream>(std::move(ex));
    }
    // A connection of its own, never pooled: a hanging stream must not hold
    // up send(), and a stream's connection ends with it.
    auto conn = std::make_unique<asio_connection>(runtime_->context(), *url, tls_.get());
    auto ex = std::make_shared<asio_exchange>(runtime_, nullptr, tls_, std::move(*url), std::move(conn), false,
                                              std::move(*wire), std::move(observer), nullptr,
                                              exchange_options(request, false));
    trace(request);
    ex->start();
    return std::make_unique<asio_stream>(std::move(ex));
  }

 private:
  asio_exchange_options exchange_options(const http_request& request, bool whole) const {
    asio_exchange_options o;
    o.inactivity_timeout = request.inactivity_timeout;
    o.connect_timeout = options_.connect_timeout;
    if (whole) o.max_body = options_.max_response_bytes;
    if (whole && request.body_buffer != nullptr) o.body_storage = std::move(*request.body_buffer);
    o.log = options_.log;
    return o;
  }

  void trace(const http_request& request) const {
    if (options_.log.enabled(log_level::trace)) options_.log(log_level::trace, ">> " + trace_request(request));
  }

  http_transport_options options_;
  std::shared_ptr<cert_store> store_;
  std::shared_ptr<asio_runtime> runtime_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<asio_pool> pool_;
};

}  // namespace

std::unique_ptr<transport> make_asio_transport(http_transport_options options, std::shared_ptr<cert_store> store) {
  if (options.threads < 1 || options.threads > max_http_engine_threads) {
    throw error(make_error(errc::invalid_argument,
                           "asio engine threads must be 1.." + std::to_string(max_http_engine_threads)));
  }
  return std::make_unique<asio_transport>(std::move(options), std::move(store));
}

}  // namespace ews::soap::detail
