#include <ews/dedupe_window.hpp>

#include <algorithm>
#include <utility>

namespace ews {

dedupe_window::dedupe_window(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::string dedupe_window::make_key(std::string_view id, std::string_view change_key) {
  std::string key = std::to_string(id.size());
  key.reserve(key.size() + 1 + id.size() + change_key.size());
  key += ':';
  key.append(id);
  key.append(change_key);
  return key;
}

bool dedupe_window::insert(std::string_view id, std::string_view change_key) {
  return insert_key(make_key(id, change_key));
}

bool dedupe_window::contains(std::string_view id, std::string_view change_key) const {
  return contains_key(make_key(id, change_key));
}

bool dedupe_window::insert_key(std::string key) {
  // One hash and lookup of the key (ids are ~200 bytes), not a find first.
  const auto [it, fresh] = keys_.insert(std::move(key));
  if (fresh) remember(&*it);
  return fresh;
}

bool dedupe_window::insert_key(key_set::node_type&& node) {
  if (node.empty()) return false;
  const auto result = keys_.insert(std::move(node));
  if (result.inserted) remember(&*result.position);
  return result.inserted;
}

void dedupe_window::remember(const std::string* key) {
  if (ring_.size() == capacity_) {
    // Forget the oldest; its slot becomes the newest.
    keys_.erase(*ring_[head_]);
    ring_[head_] = key;
    head_ = (head_ + 1) % capacity_;
  } else {
    ring_.push_back(key);
  }
}

bool dedupe_window::contains_key(const std::string& key) const { return keys_.count(key) != 0; }

void dedupe_window::clear() noexcept {
  ring_.clear();
  keys_.clear();
  head_ = 0;
}

void dedupe_window::erase_keys(const std::vector<std::string>& keys) {
  std::unordered_set<const std::string*> doomed;
  for (const auto& k : keys)
    if (auto it = keys_.find(k); it != keys_.end()) doomed.insert(&*it);
  if (doomed.empty()) return;
  // Rebuild the ring oldest first without them; it is no longer full, so
  // inserts append again from head_ 0.
  std::vector<const std::string*> kept;
  kept.reserve(ring_.size() - doomed.size());
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    const std::string* p = ring_[(head_ + i) % ring_.size()];
    if (!doomed.count(p)) kept.push_back(p);
  }
  for (const std::string* p : doomed) keys_.erase(*p);
  ring_ = std::move(kept);
  head_ = 0;
}

std::vector<std::string> dedupe_window::snapshot() const {
  std::vector<std::string> out;
  out.reserve(ring_.size());
  for (std::size_t i = 0; i < ring_.size(); ++i) out.push_back(*ring_[(head_ + i) % ring_.size()]);
  return out;
}

void dedupe_window::restore(const std::vector<std::string>& keys) {
  // Only the newest `capacity_` can survive; skip the rest without churning.
  const std::size_t skip = keys.size() > capacity_ ? keys.size() - capacity_ : 0;
  for (std::size_t i = skip; i < keys.size(); ++i) insert_key(keys[i]);
}

}  // namespace ews
