#include "fake_transport.hpp"

#include <stdexcept>

namespace ews::test {

// ---- fake_stream -------------------------------------------------------------

void fake_stream::push(std::string piece) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event{event::data, std::move(piece), std::nullopt});
    wake = wake_;
  }
  if (wake) wake();
}

void fake_stream::end() {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event{event::end, {}, std::nullopt});
    wake = wake_;
  }
  if (wake) wake();
}

void fake_stream::fail(error_info error) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event{event::end, {}, std::move(error)});
    wake = wake_;
  }
  if (wake) wake();
}

bool fake_stream::wait_delivered(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  auto data_left = [&] {
    for (const auto& e : events_)
      if (e.kind == event::data) return true;
    return false;
  };
  changed_.wait_for(lock, timeout, [&] { return (!data_left() && !in_call_) || paused_ || ended_; });
  return !data_left() && !in_call_;
}

bool fake_stream::wait_opened(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return opened_; });
}

bool fake_stream::wait_ended(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return ended_; });
}

bool fake_stream::opened() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return opened_;
}
bool fake_stream::paused() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return paused_;
}
bool fake_stream::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancelled_;
}
bool fake_stream::ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}
std::size_t fake_stream::delivered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return delivered_;
}
soap::http_request fake_stream::request() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return request_;
}

// ---- the stream handle the code under test holds ----------------------------

class fake_transport::handle final : public soap::stream {
 public:
  handle(std::shared_ptr<fake_stream> s, std::thread::id delivery) : s_(std::move(s)), delivery_(delivery) {}
  ~handle() override {
    cancel();
    // As the real transport: no observer call runs once this returns (unless
    // the observer itself drops the stream from a callback).
    if (std::this_thread::get_id() != delivery_) s_->wait_ended(std::chrono::seconds(10));
  }
  void cancel() override {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(s_->mutex_);
      if (s_->ended_ || s_->cancelled_) return;
      s_->cancelled_ = true;
      wake = s_->wake_;
    }
    s_->changed_.notify_all();
    if (wake) wake();
  }
  void resume() override {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(s_->mutex_);
      if (!s_->paused_) return;
      s_->paused_ = false;
      wake = s_->wake_;
    }
    s_->changed_.notify_all();
    if (wake) wake();
  }

 private:
  std::shared_ptr<fake_stream> s_;
  std::thread::id delivery_;
};

// ---- fake_transport ---------------------------------------------------------

soap::http_response make_response(int status, std::string body, soap::http_headers headers) {
  soap::http_response r;
  r.head.status = status;
  r.head.reason = status == 200 ? "OK" : "";
  r.head.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

fake_transport::fake_transport() : thread_([this] { run(); }) {}

fake_transport::~fake_transport() {
  std::vector<std::shared_ptr<fake_stream>> streams;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    streams = opened_;
  }
  for (auto& s : streams) {
    std::lock_guard<std::mutex> lock(s->mutex_);
    if (!s->ended_) s->cancelled_ = true;
  }
  for (auto& s : streams) schedule(s);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
  for (auto& s : streams) {
    std::lock_guard<std::mutex> lock(s->mutex_);
    s->wake_ = nullptr;
    s->ended_ = true;  // delivered by the thread above; here only for streams it never reached
    s->changed_.notify_all();
  }
}

fake_transport& fake_transport::respond(int status, std::string body, soap::http_headers headers) {
  return respond(make_response(status, std::move(body), std::move(headers)));
}

fake_transport& fake_transport::respond(soap::http_response response) {
  return respond_with([response = std::move(response)](const soap::http_request&) -> result<soap::http_response> {
    return response;
  });
}

fake_transport& fake_transport::fail(error_info error) {
  return respond_with(
      [error = std::move(error)](const soap::http_request&) -> result<soap::http_response> { return error; });
}

fake_transport& fake_transport::respond_with(handler h) {
  std::lock_guard<std::mutex> lock(mutex_);
  answers_.push_back(std::move(h));
  return *this;
}

void fake_transport::set_fallback(handler h) {
  std::lock_guard<std::mutex> lock(mutex_);
  fallback_ = std::move(h);
}

std::size_t fake_transport::pending_answers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return answers_.size();
}

std::shared_ptr<fake_stream> fake_transport::expect_stream(int status, soap::http_headers headers) {
  auto s = std::make_shared<fake_stream>();
  s->head_.status = status;
  s->head_.reason = status == 200 ? "OK" : "";
  s->head_.headers = std::move(headers);
  std::lock_guard<std::mutex> lock(mutex_);
  expected_streams_.push_back(s);
  return s;
}

std::shared_ptr<fake_stream> fake_transport::expect_stream_failure(error_info error) {
  auto s = expect_stream();
  s->open_error_ = std::move(error);
  return s;
}

std::vector<std::shared_ptr<fake_stream>> fake_transport::opened_streams() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return opened_;
}

bool fake_transport::wait_for_streams(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return opened_.size() >= n; });
}

std::vector<soap::http_request> fake_transport::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::size_t fake_transport::request_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

soap::http_request fake_transport::last_request() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (requests_.empty()) throw std::logic_error("fake_transport: no request was made");
  return requests_.back();
}

bool fake_transport::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

result<soap::http_response> fake_transport::send(const soap::http_request& request, const context& ctx) {
  handler h;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
    if (!answers_.empty()) {
      h = std::move(answers_.front());
      answers_.pop_front();
    } else {
      h = fallback_;
    }
  }
  changed_.notify_all();
  if (ctx.cancelled()) return make_error(errc::cancelled, "cancelled by the caller");
  if (!h) {
    return make_error(errc::unexpected_response,
                      "fake_transport: no answer scripted for request #" + std::to_string(request_count()) + " (" +
                          request.method + " " + request.url + ")");
  }
  auto r = h(request);
  // As the real transport: a 3xx is never returned as a response.
  if (r && r->head.status >= 300 && r->head.status < 400) return soap::http_status_error(r->head);
  return r;
}

std::unique_ptr<soap::stream> fake_transport::open_stream(const soap::http_request& request,
                                                          std::shared_ptr<soap::stream_observer> observer) {
  std::shared_ptr<fake_stream> s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
    if (!expected_streams_.empty()) {
      s = expected_streams_.front();
      expected_streams_.pop_front();
    } else {
      s = std::make_shared<fake_stream>();
      s->head_.status = 200;
      s->head_.reason = "OK";
    }
    opened_.push_back(s);
  }
  {
    std::lock_guard<std::mutex> lock(s->mutex_);
    s->observer_ = std::move(observer);
    s->request_ = request;
    s->opened_ = true;
    std::weak_ptr<fake_stream> weak = s;
    s->wake_ = [this, weak] {
      if (auto strong = weak.lock()) schedule(strong);
    };
  }
  s->changed_.notify_all();
  changed_.notify_all();
  schedule(s);
  return std::make_unique<handle>(s, thread_.get_id());
}

void fake_transport::schedule(std::shared_ptr<fake_stream> s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.push_back(std::move(s));
  }
  changed_.notify_all();
}

void fake_transport::run() {
  for (;;) {
    std::shared_ptr<fake_stream> s;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping, and everything scheduled was delivered
      s = std::move(ready_.front());
      ready_.pop_front();
    }
    while (step(*s)) {
    }
  }
}

bool fake_transport::step(fake_stream& s) {
  std::unique_lock<std::mutex> lock(s.mutex_);
  if (s.ended_ || !s.opened_ || s.in_call_) return false;
  auto observer = s.observer_;
  auto call = [&](auto&& f) {
    s.in_call_ = true;
    lock.unlock();
    f();
    lock.lock();
    s.in_call_ = false;
    s.changed_.notify_all();
  };
  if (s.cancelled_ || s.open_error_) {
    std::optional<error_info> e =
        s.cancelled_ ? make_error(errc::cancelled, "cancelled by the caller") : s.open_error_;
    s.events_.clear();
    call([&] { observer->on_end(e); });
    s.ended_ = true;
    s.changed_.notify_all();
    return false;
  }
  if (!s.head_sent_) {
    s.head_sent_ = true;
    auto head = s.head_;
    call([&] { observer->on_head(head); });
    return true;
  }
  if (s.paused_ || s.events_.empty()) return false;
  auto ev = std::move(s.events_.front());
  s.events_.pop_front();
  if (ev.kind == fake_stream::event::data) {
    bool more = true;
    call([&] { more = observer->on_data(ev.bytes); });
    ++s.delivered_;
    if (!more) s.paused_ = true;
    s.changed_.notify_all();
    return true;
  }
  call([&] { observer->on_end(ev.error); });
  s.ended_ = true;
  s.changed_.notify_all();
  return false;
}

}  // namespace ews::test
