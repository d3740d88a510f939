#include <ews/context.hpp>

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>

namespace ews {

struct context::state : std::enable_shared_from_this<context::state> {
  std::atomic<bool> cancelled{false};
  std::mutex mutex;
  std::list<std::function<void()>> callbacks;
  std::shared_ptr<state> parent;
  context::registration parent_link;  // child is cancelled when the parent is

  void cancel() {
    std::list<std::function<void()>> run;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (cancelled.exchange(true)) return;
      run.swap(callbacks);
    }
    for (auto& fn : run) fn();
  }
};

struct context::registration::impl {
  std::weak_ptr<context::state> owner;
  std::list<std::function<void()>>::iterator it;
};

context::registration::~registration() {
  if (!impl_) return;
  if (auto s = impl_->owner.lock()) {
    std::lock_guard<std::mutex> lock(s->mutex);
    if (!s->cancelled.load()) s->callbacks.erase(impl_->it);
  }
}

context::context() : state_(std::make_shared<state>()) {}

context::context(std::shared_ptr<state> s, std::optional<clock_type::time_point> deadline)
    : state_(std::move(s)), deadline_(deadline) {}

context context::with_deadline(clock_type::time_point deadline) const {
  auto child = std::make_shared<state>();
  child->parent = state_;
  std::weak_ptr<state> weak_child = child;
  child->parent_link = on_cancel([weak_child] {
    if (auto c = weak_child.lock()) c->cancel();
  });
  return context(std::move(child), deadline_ ? std::min(*deadline_, deadline) : deadline);
}

void context::cancel() const { state_->cancel(); }

bool context::cancelled() const noexcept { return state_->cancelled.load(); }

bool context::done() const noexcept {
  return cancelled() || (deadline_ && clock_type::now() >= *deadline_);
}

context::registration context::on_cancel(std::function<void()> fn) const {
  registration reg;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (!state_->cancelled.load()) {
      reg.impl_ = std::make_shared<registration::impl>();
      reg.impl_->owner = state_;
      reg.impl_->it = state_->callbacks.insert(state_->callbacks.end(), std::move(fn));
      return reg;
    }
  }
  fn();  // already cancelled: run now, outside the lock
  return reg;
}

}  // namespace ews
