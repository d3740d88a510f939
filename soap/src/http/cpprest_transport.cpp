// The production transport on cpprestsdk. Everything cpprestsdk-specific of
// the library is in this folder; nothing of it reaches a public header.

#include <ews/soap/transport.hpp>

#include "http/cert_store.hpp"
#include "http/engines.hpp"
#include "http/exchange.hpp"
#include "http/redact.hpp"
#include "http/request_rules.hpp"
#include "http/url.hpp"

#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace ews::soap {
namespace {

namespace http = web::http;
namespace client = web::http::client;

// How long destroying a stream waits for cpprestsdk to report the cancelled
// read (measured: under 1 ms; the bound only matters if it misbehaves).
constexpr std::chrono::milliseconds close_bound = std::chrono::seconds(2);

// One pool of connections per origin and inactivity timeout (cpprestsdk sets
// the timeout per client, not per request).
class client_cache {
 public:
  client_cache(std::shared_ptr<detail::cert_store> store) : store_(std::move(store)) {}

  std::shared_ptr<client::http_client> get(const detail::parsed_url& url, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(url.origin(), timeout.count());
    if (auto it = clients_.find(key); it != clients_.end()) return it->second;
    if (clients_.size() >= max_clients) prune();
    client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    config.set_max_redirects(0);              // a 3xx is the caller's decision
    config.set_validate_certificates(true);  // never off outside tests
    auto store = store_;
    config.set_ssl_context_callback([store](boost::asio::ssl::context& ctx) { store->configure(ctx.native_handle()); });
    auto c = std::make_shared<client::http_client>(utility::conversions::to_string_t(url.origin()), config);
    clients_.emplace(key, c);
    return c;
  }

 private:
  static constexpr std::size_t max_clients = 64;
  // Drops clients nothing uses; live exchanges keep theirs.
  void prune() {
    for (auto it = clients_.begin(); it != clients_.end();) {
      it = it->second.use_count() == 1 ? clients_.erase(it) : std::next(it);
    }
  }
  std::shared_ptr<detail::cert_store> store_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::int64_t>, std::shared_ptr<client::http_client>> clients_;
};

class http_stream final : public stream {
 public:
  explicit http_stream(std::shared_ptr<detail::exchange> ex) : ex_(std::move(ex)) {}
  ~http_stream() override { ex_->close(close_bound); }
  void cancel() override { ex_->cancel(); }
  void resume() override { ex_->resume(); }

 private:
  std::shared_ptr<detail::exchange> ex_;
};

// Collects a whole response for send().
class collector final : public stream_observer {
 public:
  static constexpr unsigned long long max_reserve = 8 * 1024 * 1024;
  explicit collector(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  void on_head(const http_response_head& head) override {
    std::lock_guard<std::mutex> lock(mutex_);
    response_.head = head;
    if (auto length = find_header(head.headers, "Content-Length")) {
      // Refuse an announced oversize body before reading any of it.
      const auto announced = std::strtoull(length->c_str(), nullptr, 10);
      if (announced > max_bytes_) too_large_ = true;
      // Otherwise room for it at once: appending piece by piece copies the
      // body again at every growth. Bounded, so a server announcing much
      // and sending little costs no large allocation.
      else response_.body.reserve(static_cast<std::size_t>(std::min<unsigned long long>(announced, max_reserve)));
    }
    if (too_large_) changed_.notify_all();
  }
  bool on_data(std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (too_large_ || response_.body.size() + bytes.size() > max_bytes_) {
      too_large_ = true;
      changed_.notify_all();
      return false;
    }
    response_.body.append(bytes);
    return true;
  }
  void on_end(const std::optional<error_info>& error) override {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = error;
    done_ = true;
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
  std::size_t max_bytes_;
  http_response response_;
  std::optional<error_info> error_;
  bool done_ = false;
  bool too_large_ = false;
};

class cpprest_transport final : public transport {
 public:
  cpprest_transport(http_transport_options options, std::shared_ptr<detail::cert_store> store)
      : options_(std::move(options)), requests_(store), streams_(store) {}

  result<http_response> send(const http_request& request, const context& ctx) override {
    auto url = detail::check_url(request.url, options_.allow_insecure_http);
    if (!url) return std::move(url).error();
    if (ctx.done()) return detail::context_error(ctx);
    auto req = to_cpprest(request, *url);
    if (!req) return std::move(req).error();

    auto sink = std::make_shared<collector>(options_.max_response_bytes);
    auto ex = std::make_shared<detail::exchange>(requests_.get(*url, request.inactivity_timeout), sink, options_.log);
    trace(request);
    auto wake = ctx.on_cancel([sink] { sink->wake(); });
    ex->start(std::move(*req));

    std::optional<error_info> abort;
    {
      std::unique_lock<std::mutex> lock(sink->mutex_);
      auto finished = [&] { return sink->done_ || sink->too_large_ || ctx.cancelled(); };
      if (auto deadline = ctx.deadline()) {
        sink->changed_.wait_until(lock, *deadline, finished);
      } else {
        sink->changed_.wait(lock, finished);
      }
      if (sink->too_large_) {
        abort = make_error(errc::response_too_large, "response body larger than " +
                                                         std::to_string(options_.max_response_bytes) + " bytes");
      } else if (!sink->done_) {
        abort = detail::context_error(ctx);
      }
    }
    if (abort) {
      ex->close(close_bound);
      abort->http_status = sink->response_.head.status;
      return *abort;
    }
    if (sink->error_) return *sink->error_;
    http_response response = std::move(sink->response_);
    if (options_.log.enabled(log_level::trace)) {
      options_.log(log_level::trace, "<< " + detail::trace_response(response.head, response.body));
    }
    if (response.head.status >= 300 && response.head.status < 400) return http_status_error(response.head);
    return response;
  }

  std::unique_ptr<stream> open_stream(const http_request& request,
                                      std::shared_ptr<stream_observer> observer) override {
    auto url = detail::check_url(request.url, options_.allow_insecure_http);
    result<http::http_request> req = url ? to_cpprest(request, *url) : result<http::http_request>(url.error());
    if (!req) {
      // Never throws: the error arrives like any other end.
      auto ex = std::make_shared<detail::exchange>(nullptr, std::move(observer), options_.log);
      ex->fail(req.error());
      return std::make_unique<http_stream>(std::move(ex));
    }
    auto ex = std::make_shared<detail::exchange>(streams_.get(*url, request.inactivity_timeout), std::move(observer),
                                                 options_.log);
    trace(request);
    ex->start(std::move(*req));
    return std::make_unique<http_stream>(std::move(ex));
  }

 private:
  void trace(const http_request& request) const {
    if (options_.log.enabled(log_level::trace)) options_.log(log_level::trace, ">> " + detail::trace_request(request));
  }

  static result<http::http_request> to_cpprest(const http_request& request, const detail::parsed_url& url) {
    try {
      http::http_request req(utility::conversions::to_string_t(request.method));
      req.set_request_uri(web::uri(utility::conversions::to_string_t(url.target)));
      if (auto method = detail::check_method(request.method); !method) return std::move(method).error();
      if (auto content_type = detail::body_content_type(request)) {
        // A byte container: cpprestsdk's std::string body buffer is reached
        // through a basic_streambuf<uint8_t> it is not (UBSan: vptr).
        std::vector<unsigned char> bytes(request.body.begin(), request.body.end());
        const auto length = bytes.size();
        req.set_body(Concurrency::streams::bytestream::open_istream(std::move(bytes)), length,
                     utility::conversions::to_string_t(*content_type));
      }
      for (const auto& h : request.headers) {
        if (auto checked = detail::check_header(h); !checked) return std::move(checked).error();
        // Content-Type went with the body above (cpprestsdk sets it there).
        if (detail::engine_owned_header(h.name)) continue;
        req.headers().add(utility::conversions::to_string_t(h.name), utility::conversions::to_string_t(h.value));
      }
      return req;
    } catch (const std::exception& e) {
      return make_error(errc::invalid_argument, std::string("cannot build the HTTP request: ") + e.what());
    }
  }

  http_transport_options options_;
  client_cache requests_;  // ordinary requests
  client_cache streams_;   // hanging GetStreamingEvents: never shares a connection with requests
};

}  // namespace

namespace detail {

std::unique_ptr<transport> make_cpprest_transport(http_transport_options options, std::shared_ptr<cert_store> store) {
  return std::make_unique<cpprest_transport>(std::move(options), std::move(store));
}

}  // namespace detail
}  // namespace ews::soap
