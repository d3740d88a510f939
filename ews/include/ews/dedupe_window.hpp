#pragma once
/// @file
/// `ews::dedupe_window`: the (ItemId, ChangeKey) versions already handed to
/// the application, in bounded memory, so the handler sees each version once.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ews {

/// A fixed-capacity set of item versions with first-in-first-out eviction.
///
/// `insert` and `contains` are O(1) on average; when the window is full the
/// oldest key is forgotten, so memory is bounded by `capacity` keys (about
/// 80 bytes each: a key lives inside its std::string, whatever the length of
/// the ItemId and ChangeKey). The hash table's buckets for a full window (8
/// bytes per key, up to a million keys) are taken at construction, so the
/// table never rehashes while its owner holds a lock. FIFO rather than LRU: a duplicate
/// arrives soon after the original (the stream re-sends after a reconnect, the
/// poller reconciles a recent gap), so insertion age is the right measure and
/// a hit needs no reordering.
///
/// Keys are opaque strings (see make_key) that `snapshot()`/`restore()` move
/// to and from a checkpoint store. Not thread-safe: the owner serialises.
class dedupe_window {
 public:
  /// `capacity` 0 is treated as 1.
  explicit dedupe_window(std::size_t capacity);

  dedupe_window(const dedupe_window&) = delete;
  dedupe_window& operator=(const dedupe_window&) = delete;
  dedupe_window(dedupe_window&&) noexcept = default;
  dedupe_window& operator=(dedupe_window&&) noexcept = default;
  ~dedupe_window() = default;

  /// The key of one item version: 15 bytes, a marker byte (0x02) and the
  /// first 112 bits of SHA-256 over "<length of id>:<id><change key>". The
  /// length prefix keeps (id, change key) pairs unambiguous whatever bytes
  /// they hold; an empty change key is a key of its own (the id alone). Fifteen
  /// bytes fit inside a std::string: a key costs no allocation, and hashing
  /// and comparing it does not read an id of ~200 bytes. Two versions share a
  /// key with odds of about 2^-112 per pair. Keys are raw bytes (NUL and
  /// non-UTF-8 included): a checkpoint_store keeps them as byte strings (the
  /// file store does); one that stores text must encode them. A build from
  /// before this form does not recognise these keys: going back to it
  /// delivers the remembered versions once more (none is lost).
  static std::string make_key(std::string_view id, std::string_view change_key);

  /// A key in the form earlier builds saved ("<length of id>:<id><change
  /// key>", also after a sync poller's "\x01delete " or "\x01read=N " prefix)
  /// in today's form; any other key unchanged. restore() applies it, so a
  /// saved window keeps working across the upgrade.
  static std::string upgrade_key(std::string key);

  /// Remembers the version; false if it was already remembered (the window is
  /// then unchanged). May evict the oldest key.
  bool insert(std::string_view id, std::string_view change_key);
  bool contains(std::string_view id, std::string_view change_key) const;

  /// The same on an already made key.
  bool insert_key(std::string key);
  /// A set of keys whose nodes can move into the window without copying the
  /// key (the item fetcher keeps the keys of its work in progress in one).
  using key_set = std::unordered_set<std::string>;
  /// The same on a key taken out of a key_set with `extract`; an empty node
  /// is not inserted (false). A key already remembered is freed.
  bool insert_key(key_set::node_type&& node);
  bool contains_key(const std::string& key) const;

  std::size_t size() const noexcept { return keys_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  void clear() noexcept;

  /// Forgets these keys (those not remembered are ignored); the rest keep
  /// their order. For work that was remembered but never reached the
  /// application (a fetcher stopped before delivering it): keeping its key
  /// would make a later re-offer look like a duplicate. O(size()).
  void erase_keys(const std::vector<std::string>& keys);

  /// The keys, oldest first.
  std::vector<std::string> snapshot() const;
  /// Inserts `keys` in order (oldest first, as snapshot() gives them) after
  /// what is already there; with more keys than capacity the newest are kept.
  /// Keys in the form of earlier versions are upgraded (see upgrade_key).
  void restore(const std::vector<std::string>& keys);

 private:
  std::size_t capacity_;
  // The set owns the key text; its nodes never move, so the ring can point at
  // them. ring_ grows to capacity_, then head_ is the oldest slot.
  key_set keys_;
  std::vector<const std::string*> ring_;
  std::size_t head_ = 0;

  void remember(const std::string* key);
};

}  // namespace ews
