#include "fetch_pipeline.hpp"

#include <ews/soap/service_client.hpp>

namespace ews::bench {

fetch_pipeline::fetch_pipeline(listener_options listen, item_fetcher_options fetch,
                               std::function<void(item_outcome&&)> on_item, wiring how) {
  if (!listen.http) listen.http = std::shared_ptr<soap::transport>(soap::make_http_transport(listen.transport));
  if (how == wiring::on_item) {
    listen.fetch = std::move(fetch);
    listener_ = std::make_unique<listener>(std::move(listen));
    listener_->on_item(std::move(on_item));
  } else {
    soap::service_options so;
    so.url = listen.url;
    so.http = listen.http;
    so.credentials = listen.credentials;
    fetch.service = std::make_shared<soap::service_client>(std::move(so));
    fetch.on_outcome = std::move(on_item);
    fetch.on_error = [this](const error_info&) { count_error(); };
    fetch.on_ready = [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.notify_all();
    };
    fetcher_ = std::make_unique<item_fetcher>(std::move(fetch));
    listener_ = std::make_unique<listener>(std::move(listen));
    listener_->on_notification([this](const mailbox_event& e) { offer(e); });
  }
  listener_->on_error([this](const error_info&) { count_error(); });
}

fetch_pipeline::~fetch_pipeline() { stop(); }

void fetch_pipeline::count_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++errors_;
}

void fetch_pipeline::offer(const mailbox_event& e) {
  mailbox_event copy = e;
  if (fetcher_->offer(std::move(copy))) return;
  // Full: wait for on_ready (bounded rounds; stop() ends the wait). A refused
  // offer leaves `copy` untouched, so it can be offered again.
  std::unique_lock<std::mutex> lock(mutex_);
  for (int round = 0; round < 6000 && !stopping_; ++round) {
    lock.unlock();
    if (fetcher_->offer(std::move(copy))) return;
    lock.lock();
    ready_.wait_for(lock, std::chrono::milliseconds(10));
  }
  ++errors_;  // given up: counted, visible as a missing item
}

void fetch_pipeline::start() { listener_->start(); }

void fetch_pipeline::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  if (listener_) listener_->stop();
  if (fetcher_) fetcher_->stop();
}

listener_counters fetch_pipeline::listener_numbers() const { return listener_->counters(); }

item_fetcher_counters fetch_pipeline::fetcher_numbers() const {
  if (fetcher_) return fetcher_->counters();
  return listener_->counters().fetch.value_or(item_fetcher_counters{});
}

std::uint64_t fetch_pipeline::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_;
}

}  // namespace ews::bench
