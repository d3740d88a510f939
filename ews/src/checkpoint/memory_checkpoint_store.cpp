// The in-memory checkpoint store: the same contract as the file store,
// without durability.

#include <ews/checkpoint_store.hpp>

#include <map>
#include <mutex>

namespace ews {
namespace {

using sys_time = std::chrono::system_clock::time_point;

class memory_checkpoint_store final : public checkpoint_store {
 public:
  result<std::optional<std::string>> load_sync_state(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = sync_states_.find(folder);
    if (it == sync_states_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  status save_sync_state(const folder_key& folder, std::string_view sync_state) override {
    std::lock_guard<std::mutex> lock(mutex_);
    sync_states_[folder] = std::string(sync_state);
    return ok;
  }
  status clear_sync_state(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    sync_states_.erase(folder);
    return ok;
  }

  result<std::vector<std::string>> load_dedupe_keys(std::string_view window) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = windows_.find(std::string(window));
    if (it == windows_.end()) return std::vector<std::string>{};
    return it->second;
  }
  status save_dedupe_keys(std::string_view window, const std::vector<std::string>& keys) override {
    std::lock_guard<std::mutex> lock(mutex_);
    windows_[std::string(window)] = keys;
    return ok;
  }

  result<std::optional<sys_time>> load_last_event_time(const folder_key& folder) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = last_events_.find(folder);
    if (it == last_events_.end()) return std::optional<sys_time>{};
    return std::optional<sys_time>{it->second};
  }
  status save_last_event_time(const folder_key& folder, sys_time when) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = last_events_.emplace(folder, when);
    if (!inserted && it->second < when) it->second = when;
    return ok;
  }
  result<std::vector<folder_time>> list_last_event_times() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<folder_time> out;
    out.reserve(last_events_.size());
    for (const auto& [folder, when] : last_events_) out.push_back({folder, when});
    return out;
  }

 private:
  std::mutex mutex_;
  std::map<folder_key, std::string> sync_states_;
  std::map<std::string, std::vector<std::string>, std::less<>> windows_;
  std::map<folder_key, sys_time> last_events_;
};

}  // namespace

std::shared_ptr<checkpoint_store> make_memory_checkpoint_store() {
  return std::make_shared<memory_checkpoint_store>();
}

}  // namespace ews
