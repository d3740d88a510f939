#pragma once
// listener -> item_fetcher -> the application's item handler: what a mail
// service runs. Until the listener wires the fetcher itself (on_item and
// listener_options::fetch), this does it from on_notification: a refused
// offer() waits on the dispatcher thread for on_ready, so a full fetcher
// fills the listener's queue and pauses the stream, as the built-in wiring
// will.

#include <ews/item_fetcher.hpp>
#include <ews/listener.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace ews::bench {

class fetch_pipeline {
 public:
  /// `listen.http` is set to a shared transport when null; `fetch.service`
  /// to a service client on it; `fetch.on_outcome` to `on_item`.
  fetch_pipeline(listener_options listen, item_fetcher_options fetch, std::function<void(item_outcome&&)> on_item);
  ~fetch_pipeline();
  fetch_pipeline(const fetch_pipeline&) = delete;
  fetch_pipeline& operator=(const fetch_pipeline&) = delete;

  void start();
  /// Stops the listener, then the fetcher. Idempotent.
  void stop();

  listener_counters listener_numbers() const;
  item_fetcher_counters fetcher_numbers() const;
  /// Errors reported by either part (recoverable ones included).
  std::uint64_t errors() const;

 private:
  void offer(const mailbox_event& e);

  std::unique_ptr<item_fetcher> fetcher_;
  std::unique_ptr<listener> listener_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  bool stopping_ = false;
  std::uint64_t errors_ = 0;
};

}  // namespace ews::bench
