#pragma once
// The event stage that fetches: notifications go to an item_fetcher (GetItem
// by ItemId + ChangeKey, dedupe, one outcome each) whose outcomes reach the
// application's on_item handler on the fetcher's own thread.

#include "listener/event_stage.hpp"

#include <ews/item_fetcher.hpp>

#include <memory>

namespace ews::detail {

class fetch_stage final : public event_stage {
 public:
  explicit fetch_stage(std::shared_ptr<item_fetcher> fetcher) : fetcher_(std::move(fetcher)) {}

  bool offer(mailbox_event&& e) override { return fetcher_->offer(std::move(e)); }
  void end_of_burst() override { fetcher_->end_of_burst(); }
  void stop() override { fetcher_->stop(); }
  void add_counters(listener_counters& c) const override {
    const auto f = fetcher_->counters();
    c.delivered += f.fetched + f.gone + f.failed + f.skipped;
    c.handler_errors += f.handler_errors;
    c.refused += f.refused;
    c.abandoned += f.abandoned;
    c.queue_depth += f.in_progress;
    c.peak_queue_depth = std::max(c.peak_queue_depth, f.peak_in_progress);
    c.fetch = f;
  }

 private:
  std::shared_ptr<item_fetcher> fetcher_;
};

}  // namespace ews::detail
