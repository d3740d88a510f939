// Bearer tokens from a token_source, cached and shared between threads.

#include <ews/auth.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

namespace ews {
namespace {

class cached_bearer final : public credential_provider {
 public:
  cached_bearer(token_source source, token_cache_options options)
      : source_(std::move(source)), options_(std::move(options)) {}

  status apply(soap::http_request& request, const context& ctx) override {
    std::unique_lock<std::mutex> lock(mutex_);
    auto token = current(lock, ctx, /*stale_generation=*/std::nullopt);
    if (!token) return std::move(token).error();
    remember_applied(generation_);
    request.headers.push_back({"Authorization", "Bearer " + std::string(token->reveal())});
    return ok;
  }

  bool refresh_after_unauthorized(const soap::http_response_head&, const context& ctx) override {
    std::unique_lock<std::mutex> lock(mutex_);
    // The generation this thread's request carried (service_client retries on
    // the thread that applied): only that token is stale. If another thread
    // already replaced it, the retry simply takes the newer one.
    std::uint64_t used = generation_;
    if (auto it = applied_.find(std::this_thread::get_id()); it != applied_.end()) used = it->second;
    auto token = current(lock, ctx, used);
    if (!token) {
      options_.log(log_level::warning, "HTTP 401 and no new token: " + token.error().message);
      return false;
    }
    options_.log(log_level::info, "HTTP 401: bearer token renewed");
    return true;
  }

 private:
  clock::time_point now() const {
    return options_.time ? options_.time->now() : std::chrono::steady_clock::now();
  }

  bool fresh() const {
    if (!token_) return false;
    return !expires_at_ || now() + options_.expiry_skew < *expires_at_;
  }

  void remember_applied(std::uint64_t generation) {
    // Bounded: threads come and go; forgetting one only costs a refresh.
    if (applied_.size() >= 256) applied_.clear();
    applied_[std::this_thread::get_id()] = generation;
  }

  // The token to use. `stale_generation` set: that token was refused, so a
  // token of a later generation is needed. Holds `lock` except while the
  // source runs; concurrent callers wait for the one refresh in flight and
  // share its outcome.
  result<secret> current(std::unique_lock<std::mutex>& lock, const context& ctx,
                         std::optional<std::uint64_t> stale_generation) {
    for (;;) {
      const bool usable = stale_generation ? generation_ > *stale_generation && token_ : fresh();
      if (usable) return *token_;
      if (!refreshing_) break;
      const std::uint64_t waited_for = generation_;
      if (!wait_for_refresh(lock, ctx)) {
        return make_error(ctx.cancelled() ? errc::cancelled : errc::timeout,
                          "gave up waiting for a token being fetched by another request", !ctx.cancelled());
      }
      if (generation_ != waited_for && !token_ && last_error_) return *last_error_;  // shared failure
      if (generation_ != waited_for && token_) return *token_;                       // shared success
    }

    refreshing_ = true;
    lock.unlock();
    result<access_token> fetched = make_error(errc::authentication, "no token");
    try {
      fetched = source_(ctx);
    } catch (const std::exception& e) {
      fetched = make_error(errc::authentication, std::string("the token source threw: ") + e.what());
    }
    lock.lock();
    refreshing_ = false;
    ++generation_;
    refreshed_.notify_all();
    if (!fetched) {
      token_.reset();
      expires_at_.reset();
      last_error_ = fetched.error();
      return std::move(fetched).error();
    }
    if (fetched->value.empty()) {
      token_.reset();
      last_error_ = make_error(errc::authentication, "the token source returned an empty token");
      return *last_error_;
    }
    token_ = std::move(fetched->value);
    expires_at_ = fetched->expires_at;
    last_error_.reset();
    if (expires_at_ && options_.log.enabled(log_level::debug)) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(*expires_at_ - now());
      options_.log(log_level::debug, "bearer token obtained, valid for " + std::to_string(left.count()) + " s");
    }
    return *token_;
  }

  // Waits until the refresh in flight ends. False on the caller's deadline or
  // cancellation.
  bool wait_for_refresh(std::unique_lock<std::mutex>& lock, const context& ctx) {
    // The callback must not take mutex_: it runs at once, on this thread,
    // when ctx is already cancelled. A wake-up it sends just before we block
    // is caught by the bounded wait slices below.
    auto wake = ctx.on_cancel([this] { refreshed_.notify_all(); });
    constexpr auto slice = std::chrono::milliseconds(100);
    while (refreshing_ && !ctx.cancelled()) {
      auto until = std::chrono::steady_clock::now() + slice;
      if (auto deadline = ctx.deadline()) {
        if (*deadline <= std::chrono::steady_clock::now()) break;
        until = std::min(until, *deadline);
      }
      refreshed_.wait_until(lock, until);
    }
    return !refreshing_;
  }

  token_source source_;
  token_cache_options options_;
  std::mutex mutex_;
  std::condition_variable refreshed_;
  std::optional<secret> token_;
  std::optional<clock::time_point> expires_at_;
  std::optional<error_info> last_error_;
  std::uint64_t generation_ = 0;
  bool refreshing_ = false;
  std::map<std::thread::id, std::uint64_t> applied_;
};

}  // namespace

std::shared_ptr<credential_provider> make_bearer_token(token_source source, token_cache_options options) {
  if (!source) throw error(make_error(errc::invalid_argument, "make_bearer_token needs a token source"));
  return std::make_shared<cached_bearer>(std::move(source), std::move(options));
}

}  // namespace ews
