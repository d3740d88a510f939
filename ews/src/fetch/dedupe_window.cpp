#include <ews/dedupe_window.hpp>

#include "crypto/sha256.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>
#include <utility>

namespace ews {

// The table gets its buckets for a full window at once (up to a million;
// one more key than capacity lives briefly, before the oldest is evicted):
// growing rehashed every key again at each step, under the owner's lock.
dedupe_window::dedupe_window(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
  keys_.reserve(std::min<std::size_t>(capacity_, 1u << 20) + 1);
}

namespace {

constexpr char key_marker = '\x02';
constexpr std::size_t key_size = 15;  // the most a std::string holds without allocating

}  // namespace

std::string dedupe_window::make_key(std::string_view id, std::string_view change_key) {
  char length[24];
  const auto end = std::to_chars(length, length + sizeof length, id.size()).ptr;
  detail::sha256_digest digest;
  if (!detail::sha256({std::string_view(length, static_cast<std::size_t>(end - length)), ":", id, change_key}, digest)) {
    throw std::bad_alloc();  // SHA-256 fails only when OpenSSL cannot allocate
  }
  std::string key(key_size, key_marker);
  std::memcpy(key.data() + 1, digest.data(), key_size - 1);
  return key;
}

std::string dedupe_window::upgrade_key(std::string key) {
  if (key.size() == key_size && key.front() == key_marker) return key;
  // A sync poller's marked change: "\x01delete <key>", "\x01read=1 <key>".
  std::size_t start = 0;
  if (!key.empty() && key.front() == '\x01') {
    const auto space = key.find(' ');
    if (space == std::string::npos) return key;
    start = space + 1;
  }
  const std::string_view old = std::string_view(key).substr(start);
  std::size_t id_size = 0;
  const auto [colon, ec] = std::from_chars(old.data(), old.data() + old.size(), id_size);
  if (ec != std::errc() || colon == old.data() || colon == old.data() + old.size() || *colon != ':') return key;
  const std::string_view rest = old.substr(static_cast<std::size_t>(colon - old.data()) + 1);
  if (id_size > rest.size()) return key;
  return key.substr(0, start) + make_key(rest.substr(0, id_size), rest.substr(id_size));
}

bool dedupe_window::insert(std::string_view id, std::string_view change_key) {
  return insert_key(make_key(id, change_key));
}

bool dedupe_window::contains(std::string_view id, std::string_view change_key) const {
  return contains_key(make_key(id, change_key));
}

bool dedupe_window::insert_key(std::string key) {
  // One hash and lookup of the key, not a find first.
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
    // Forget the oldest; its slot becomes the newest. Extracted, not erased
    // by key: the key passed is the element's own, and the node handle keeps
    // it alive until the lookup is over.
    keys_.extract(*ring_[head_]);
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
  for (const std::string* p : doomed) keys_.extract(*p);  // as in remember()
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
  for (std::size_t i = skip; i < keys.size(); ++i) insert_key(upgrade_key(keys[i]));
}

}  // namespace ews
