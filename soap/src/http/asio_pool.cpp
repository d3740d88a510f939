#include "http/asio_pool.hpp"

namespace ews::soap::detail {

std::unique_ptr<asio_connection> asio_pool::take(const std::string& origin) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = idle_.find(origin);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto c = std::move(it->second.back());
  it->second.pop_back();
  return c;
}

void asio_pool::put(const std::string& origin, std::unique_ptr<asio_connection> c) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& list = idle_[origin];
    if (list.size() < max_idle_per_origin) {
      list.push_back(std::move(c));
      return;
    }
  }
  c->close();
}

}  // namespace ews::soap::detail
