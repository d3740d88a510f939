#pragma once
// listener -> item_fetcher -> the application's item handler: what a mail
// service runs. Two wirings:
//  - on_item: the listener's own (listener_options::fetch, listener::on_item);
//    the manager offers events straight to the fetcher.
//  - notification: on_notification offers each event to an item_fetcher of
//    our own; a refused offer waits on the dispatcher thread for on_ready (so
//    a full fetcher fills the listener's queue and pauses the stream). One
//    thread hand-off more per notification: kept to measure what it costs.

#include <ews/item_fetcher.hpp>
#include <ews/listener.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace ews::bench {

enum class wiring { on_item, notification };

class fetch_pipeline {
 public:
  /// `listen.http` is set to a transport made here when null, so its one-time
  /// set-up (the trust store) happens in the constructor, not in start().
  fetch_pipeline(listener_options listen, item_fetcher_options fetch, std::function<void(item_outcome&&)> on_item,
                 wiring how = wiring::on_item);
  ~fetch_pipeline();
  fetch_pipeline(const fetch_pipeline&) = delete;
  fetch_pipeline& operator=(const fetch_pipeline&) = delete;

  void start();
  /// Stops the listener, then our fetcher if any. Idempotent.
  void stop();

  listener_counters listener_numbers() const;
  item_fetcher_counters fetcher_numbers() const;
  /// Errors reported by either part (recoverable ones included).
  std::uint64_t errors() const;

 private:
  void offer(const mailbox_event& e);
  void count_error();

  std::unique_ptr<item_fetcher> fetcher_;  // notification wiring only
  std::unique_ptr<listener> listener_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  bool stopping_ = false;
  std::uint64_t errors_ = 0;
};

}  // namespace ews::bench
