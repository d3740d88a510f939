#include "http/exchange.hpp"

#include "http/cookies.hpp"
#include "http/cpprest_errors.hpp"
#include "http/redact.hpp"

#include <algorithm>

namespace ews::soap::detail {
namespace {

// The exchange whose observer this thread is calling right now, so that a
// close() from inside a callback (an observer dropping its stream in on_end)
// does not wait for itself.
thread_local const exchange* calling_observer_of = nullptr;

// Largest piece handed to on_data at once.
constexpr std::size_t max_piece = 64 * 1024;

http_response_head to_head(const web::http::http_response& r) {
  http_response_head head;
  head.status = r.status_code();
  head.reason = utility::conversions::to_utf8string(r.reason_phrase());
  for (const auto& [name, value] : r.headers()) {
    head.headers.push_back(
        http_header{utility::conversions::to_utf8string(name), utility::conversions::to_utf8string(value)});
  }
  head.cookies = cookies_from_headers(head.headers);
  return head;
}

}  // namespace

exchange::exchange(std::shared_ptr<web::http::client::http_client> client, std::shared_ptr<stream_observer> observer,
                   logger log)
    : client_(std::move(client)), observer_(std::move(observer)), log_(std::move(log)) {}

template <class F>
bool exchange::call_observer(F&& f) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    ++calls_running_;
  }
  const exchange* outer = calling_observer_of;
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

void exchange::start(web::http::http_request request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    chain_active_ = true;
  }
  auto self = shared_from_this();
  try {
    client_->request(std::move(request), cts_.get_token())
        .then([self](pplx::task<web::http::http_response> task) { self->on_response(std::move(task)); });
  } catch (...) {
    finish(classify_failure(std::current_exception(), false));
  }
}

void exchange::fail(error_info error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    chain_active_ = true;
  }
  auto self = shared_from_this();
  pplx::create_task([self, error = std::move(error)] { self->finish(error); });
}

void exchange::on_response(pplx::task<web::http::http_response> task) {
  web::http::http_response response;
  try {
    response = task.get();
  } catch (...) {
    finish(classify_failure(std::current_exception(), false));
    return;
  }
  http_response_head head = to_head(response);
  if (log_.enabled(log_level::trace)) log_(log_level::trace, "<< " + trace_response(head, {}));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    head_received_ = true;
  }
  body_ = response.body().streambuf();
  try {
    call_observer([&] { observer_->on_head(head); });
  } catch (...) {
    cts_.cancel();
    finish(make_error(errc::handler_failed, "stream observer threw in on_head"));
    return;
  }
  pump();
}

void exchange::drain(std::string& into, std::size_t cap) {
  // One allocation for what is buffered now, instead of growing the piece
  // block by block (each growth copies it: measured, 2% of a fetched mail).
  into.reserve(std::min(cap, into.size() + body_->in_avail()));
  while (into.size() < cap) {
    std::uint8_t* ptr = nullptr;
    std::size_t count = 0;
    if (!body_->acquire(ptr, count) || ptr == nullptr) return;
    const std::size_t take = std::min(count, cap - into.size());
    into.append(reinterpret_cast<const char*>(ptr), take);
    body_->release(ptr, take);
    if (take == 0) return;
  }
}

bool exchange::deliver(std::string_view piece) {
  bytes_received_ += piece.size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    resume_requested_ = false;
  }
  bool more = true;
  bool ran = false;
  try {
    ran = call_observer([&] { more = observer_->on_data(piece); });
  } catch (...) {
    cts_.cancel();
    finish(make_error(errc::handler_failed, "stream observer threw in on_data"));
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!ran || closed_) {
    // Closed from outside: the closer finishes; the chain just stops.
    chain_active_ = false;
    changed_.notify_all();
    return false;
  }
  if (more || resume_requested_ || cancel_requested_) return true;
  chain_active_ = false;  // paused until resume()
  return false;
}

void exchange::pump() {
  // Hand over what is buffered, then wait for the next byte without blocking.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancel_requested_) break;
    }
    std::string piece;
    try {
      drain(piece, max_piece);
    } catch (...) {
      finish(classify_failure(std::current_exception(), true));
      return;
    }
    if (piece.empty()) break;
    if (!deliver(piece)) return;
  }
  auto self = shared_from_this();
  try {
    body_->getn(&first_byte_, 1).then([self](pplx::task<std::size_t> task) { self->on_byte(std::move(task)); });
  } catch (...) {
    finish(classify_failure(std::current_exception(), true));
  }
}

void exchange::on_byte(pplx::task<std::size_t> task) {
  std::size_t n = 0;
  try {
    n = task.get();
  } catch (...) {
    finish(classify_failure(std::current_exception(), true));
    return;
  }
  if (n == 0) {
    // getn after cancel may report a clean end: the cancel decides.
    finish(std::nullopt);
    return;
  }
  std::string piece(1, static_cast<char>(first_byte_));
  try {
    drain(piece, max_piece);
  } catch (...) {
    finish(classify_failure(std::current_exception(), true));
    return;
  }
  if (deliver(piece)) pump();
}

void exchange::finish(std::optional<error_info> error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    if (cancel_requested_) error = make_error(errc::cancelled, "cancelled by the caller");
  }
  if (log_.enabled(log_level::debug)) {
    log_(log_level::debug, "HTTP exchange ended after " + std::to_string(bytes_received_) + " body bytes" +
                               (error ? ": " + error->message : std::string()));
  }
  try {
    call_observer([&] { observer_->on_end(error); });
  } catch (...) {
    // Nothing left to report it to; the stream is over anyway.
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    chain_active_ = false;
  }
  changed_.notify_all();
}

void exchange::cancel() {
  bool finish_here = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || cancel_requested_) return;
    cancel_requested_ = true;
    if (!chain_active_) {
      // Paused: no continuation will run to report the end, so one is
      // started here (on a pool thread, like every other observer call).
      chain_active_ = true;
      finish_here = true;
    }
  }
  cts_.cancel();
  if (finish_here) {
    auto self = shared_from_this();
    pplx::create_task([self] { self->finish(std::nullopt); });
  }
}

void exchange::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || cancel_requested_ || closed_) return;
    if (chain_active_) {
      resume_requested_ = true;
      return;
    }
    chain_active_ = true;
  }
  auto self = shared_from_this();
  pplx::create_task([self] { self->pump(); });
}

void exchange::close(std::chrono::milliseconds bound) {
  cancel();
  std::unique_lock<std::mutex> lock(mutex_);
  const bool inside = calling_observer_of == this;
  if (!inside) {
    changed_.wait_for(lock, bound, [&] { return finished_; });
  }
  closed_ = true;
  // The observer's own code may still be running: it must end before the
  // owner may assume the observer is no longer used.
  if (!inside) changed_.wait(lock, [&] { return calls_running_ == 0; });
}

}  // namespace ews::soap::detail
