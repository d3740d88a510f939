#include <ews/item_fetcher.hpp>

#include <ews/dedupe_window.hpp>
#include <ews/soap/requests.hpp>
#include <ews/soap/responses.hpp>
#include <ews/soap/service_client.hpp>

#include "fetch/retry_policy.hpp"
#include "fetch/unresolved_times.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ews {

soap::item_shape default_item_shape() {
  soap::item_shape shape;
  shape.base_shape = soap::item_shape::base::id_only;
  shape.additional_properties = {
      "item:ParentFolderId",   "item:ItemClass",        "item:Subject",
      "message:From",          "message:ToRecipients",  "message:CcRecipients",
      "item:DateTimeReceived", "item:DateTimeSent",     "message:InternetMessageId",
      "item:Size",             "message:IsRead",        "item:HasAttachments",
      "item:Attachments",
  };
  return shape;
}

namespace {

constexpr std::size_t max_batch_size = 1000;
constexpr std::size_t max_workers = 64;

bool is_fetchable(const soap::notification_event& e) {
  if (e.is_folder_event) return false;
  switch (e.type) {
    case event_type::new_mail:
    case event_type::created:
    case event_type::modified:
    case event_type::moved:
    case event_type::copied:
      return true;
    default:
      return false;
  }
}

// One notification on its way to GetItem.
struct entry {
  entry(mailbox_event&& s, const std::string* k, std::uint64_t t) : source(std::move(s)), key(k), ticket(t) {}

  mailbox_event source;
  // Dedupe key of the version the event named: the text lives in the
  // fetcher's `fetching` set while the work is in progress (nodes do not
  // move), and moves on into the window when the item is delivered.
  const std::string* key = nullptr;
  int attempts = 0;  // retries so far
  std::uint64_t ticket = 0;  // in unresolved_times until its outcome is handled
};

// An outcome waiting for the handler.
struct ready_outcome {
  // Built in place in the queue: a whole outcome (an item is some 20
  // strings) moved into it cost as much again.
  ready_outcome(outcome_kind kind, mailbox_event&& source, std::optional<item>&& value,
                std::optional<error_info>&& error, std::uint64_t t)
      : outcome{kind, std::move(source), std::move(value), std::move(error)}, ticket(t) {}
  item_outcome outcome;
  std::uint64_t ticket = 0;
};
static_assert(std::is_nothrow_move_constructible_v<ready_outcome>, "moved, not copied, when the queue grows");

struct batch {
  std::string mailbox;
  std::vector<entry> entries;
};

// Ids of one mailbox collecting until full or their linger ends.
struct pending_slot {
  std::vector<entry> entries;
  clock::time_point due{};  // when its linger ends (from its first entry)
  // The offering side said this batch's burst is over (end_of_burst): it
  // leaves as soon as a call slot is free instead of after its linger.
  bool sealed = false;
};

struct retry_slot {
  batch work;
  clock::timer_id timer = 0;
};

// What must happen once the lock is released: user callbacks never run
// under the fetcher's mutex.
struct deferred {
  bool ready = false;
  std::vector<error_info> errors;
};

// The dispatcher keeps room for this many outcomes between batches.
constexpr std::size_t max_kept_ready = 2048;

// A worker keeps the memory of its largest GetItem answer up to this size.
constexpr std::size_t max_kept_body_buffer = 4 * 1024 * 1024;

std::string describe(const item_id& id) {
  // Ids are long base64; the tail is what differs between items.
  constexpr std::size_t shown = 24;
  return id.id.size() <= shown ? id.id : "..." + id.id.substr(id.id.size() - shown);
}

error_info invalid_option(const std::string& what) {
  return make_error(errc::invalid_argument, "item_fetcher_options." + what);
}

}  // namespace

struct item_fetcher::impl {
  // Lets timer callbacks reach the fetcher only while it is alive: stop()
  // clears `target` under `mutex`, so after it no callback touches the
  // fetcher, and one already running has finished. Callbacks own the gate, so
  // a timer that fires late (a shared clock) touches only the gate.
  struct timer_gate {
    std::mutex mutex;
    impl* target = nullptr;
  };

  explicit impl(item_fetcher_options o)
      : options(std::move(o)),
        time(options.time ? options.time : make_steady_clock()),
        window(options.dedupe_capacity),
        rng(std::random_device{}()),
        gate(std::make_shared<timer_gate>()) {
    gate->target = this;
  }

  // ---- accepting ------------------------------------------------------------

  bool offer(mailbox_event&& event) {
    // The key (a SHA-256 of the id) is made before taking the lock the
    // workers and the dispatcher share.
    const item_id& named = event.event.item;
    std::string key;
    if (is_fetchable(event.event) && !named.id.empty()) key = dedupe_window::make_key(named.id, named.change_key);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return false;
      if (event.event.type == event_type::status && !event.event.is_folder_event) {
        ++counts.status_events;
        return true;
      }
      if (in_progress >= options.queue_limit) {
        refused = true;
        ++counts.refused;
        return false;
      }
      ++counts.submitted;
      if (!is_fetchable(event.event)) {
        const auto ticket = accept_locked();
        push_locked(outcome_kind::skipped, std::move(event), std::nullopt, std::nullopt, ticket);
        return true;
      }
      if (named.id.empty()) {
        const auto ticket = accept_locked();
        auto err = make_error(errc::unexpected_response,
                              std::string(to_string(event.event.type)) + " event without an ItemId");
        push_locked(outcome_kind::failed, std::move(event), std::nullopt, std::move(err), ticket);
        return true;
      }
      const auto [in_progress_key, fresh] =
          window.contains_key(key) ? std::pair{fetching.end(), false} : fetching.insert(std::move(key));
      if (!fresh) {
        ++counts.duplicates;
        log_debug([&] { return "duplicate notification for item " + describe(named) + " dropped"; });
        return true;
      }
      const auto ticket = accept_locked();
      // Looked up before inserting: copying the mailbox name for every event
      // cost an allocation each, and the slot exists for all but the first.
      auto slot_it = pending.find(event.mailbox);
      if (slot_it == pending.end()) {
        slot_it = pending.try_emplace(event.mailbox).first;
        slot_it->second.entries.reserve(std::min(options.batch_size, std::size_t{64}));
      }
      pending_slot& slot = slot_it->second;
      slot.entries.emplace_back(std::move(event), &*in_progress_key, ticket);
      if (slot.entries.size() >= options.batch_size || options.linger.count() == 0) {
        dispatch_pending_locked(slot_it);
      } else if (slot.entries.size() == 1) {
        slot.due = time->now() + options.linger;
        arm_linger_locked(slot.due);
      }
    }
    return true;
  }

  std::uint64_t accept_locked() {
    ++in_progress;
    counts.peak_in_progress = std::max(counts.peak_in_progress, in_progress);
    return unresolved.enter(std::chrono::system_clock::now());
  }

  // Moves a mailbox's partial batch to the send queue.
  void dispatch_pending_locked(std::unordered_map<std::string, pending_slot>::iterator it) {
    ++counts.batches;
    send_queue.push_back(batch{it->first, std::move(it->second.entries)});
    pending.erase(it);
    work_ready.notify_one();
  }

  // One timer serves every mailbox's linger, armed for the earliest due
  // time and left to fire when its batch left sooner: a timer per batch,
  // scheduled and then cancelled, woke the clock's thread twice per batch
  // (measured). Lingers are fixed, so a later slot is never due first.
  void arm_linger_locked(clock::time_point due) {
    if (linger_timer && linger_timer->due <= due) return;
    // Earlier than the armed one only if a clock went back: that one goes.
    if (linger_timer) time->cancel(linger_timer->id);
    const std::uint64_t generation = ++last_generation;
    const clock::timer_id id = time->schedule_at(due, [g = gate, generation] {
      std::lock_guard<std::mutex> gl(g->mutex);
      if (g->target) g->target->on_linger(generation);
    });
    linger_timer = armed_timer{id, due, generation};
  }

  void on_linger(std::uint64_t generation) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!linger_timer || linger_timer->generation != generation) return;  // replaced
    // Due up to the time it was armed for, whatever a clock's now() says
    // while it fires (a slot left undispatched would re-arm it at once).
    const clock::time_point now = std::max(time->now(), linger_timer->due);
    linger_timer.reset();  // it has fired
    if (stopping) return;
    std::optional<clock::time_point> next;
    for (auto it = pending.begin(); it != pending.end();) {
      const auto following = std::next(it);  // erasing `it` leaves the others valid
      if (it->second.due <= now) {
        dispatch_pending_locked(it);
      } else if (!next || it->second.due < *next) {
        next = it->second.due;
      }
      it = following;
    }
    if (next) arm_linger_locked(*next);
  }

  void flush() {
    std::lock_guard<std::mutex> lock(mutex);
    while (!pending.empty()) dispatch_pending_locked(pending.begin());
  }

  // ---- adaptive batching ----------------------------------------------------
  // Linger is a guess at when a burst of events is over; the offering side
  // knows. After end_of_burst() a partial batch leaves at once while a call
  // slot is free; while every slot is busy it keeps filling (fewer, fuller
  // GetItems under load) and leaves when a call ends, when full, or at the
  // latest when its linger fires.

  void end_of_burst() {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping) return;
    for (auto& [mailbox, slot] : pending) slot.sealed = true;
    dispatch_sealed_locked();
  }

  bool call_slot_free_locked() const { return in_flight + send_queue.size() < options.max_in_flight; }

  void dispatch_sealed_locked() {
    for (auto it = pending.begin(); it != pending.end() && call_slot_free_locked();) {
      const auto next = std::next(it);  // erasing `it` leaves the others valid
      if (it->second.sealed) dispatch_pending_locked(it);
      it = next;
    }
  }

  // ---- fetching -------------------------------------------------------------

  void run_worker() {
    // This worker's memory for GetItem answers, lent to each call and given
    // back with the answer: with glibc's malloc, allocating and freeing
    // 100+ KB per call made it hand memory back to the kernel every time
    // (page faults on the next answer).
    std::string body_buffer;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_ready.wait(lock, [&] { return stopping || !send_queue.empty(); });
      if (stopping) return;
      batch work = std::move(send_queue.front());
      send_queue.pop_front();
      ++in_flight;
      lock.unlock();
      deferred after;
      fetch_guarded(std::move(work), after, body_buffer);
      lock.lock();
      --in_flight;
      if (!stopping) dispatch_sealed_locked();  // a slot is free: sealed batches need not linger
      if (after.ready || !after.errors.empty()) {
        lock.unlock();
        run_deferred(after);
        lock.lock();
      }
    }
  }

  // A transport or allocator that throws must not end the worker (and the
  // process) nor lose the ids: the batch is retried like a transport failure.
  void fetch_guarded(batch work, deferred& after, std::string& body_buffer) {
    try {
      fetch(work, after, body_buffer);
      return;
    } catch (const std::exception& e) {
      request_failed(std::move(work), make_error(errc::io_error, std::string("GetItem threw: ") + e.what(), true),
                     after);
    } catch (...) {
      request_failed(std::move(work), make_error(errc::io_error, "GetItem threw a non-standard exception", true),
                     after);
    }
  }

  // `work` is consumed only once it is certain nothing throws after that.
  void fetch(batch& work, deferred& after, std::string& body_buffer) {
    soap::envelope_options env;
    env.server_version = options.server_version;
    soap::http_headers headers;
    if (!work.mailbox.empty()) {
      env.impersonate = soap::impersonation{soap::impersonation::kind::smtp_address, work.mailbox};
      // Routes the request to the mailbox's server (Exchange Online, 2013+).
      headers.push_back({"X-AnchorMailbox", work.mailbox});
    }
    soap::get_item_request request;
    request.shape = options.shape;
    request.items.reserve(work.entries.size());
    // The ids are lent to the request for its text and given back whatever
    // happens (copying them cost two allocations per item).
    for (entry& e : work.entries) request.items.push_back(std::move(e.source.event.item));
    struct give_back {
      batch& work;
      soap::get_item_request& request;
      ~give_back() {
        for (std::size_t i = 0; i < request.items.size(); ++i)
          work.entries[i].source.event.item = std::move(request.items[i]);
      }
    };
    result<std::string> envelope = [&] {
      const give_back returned{work, request};
      return soap::build_get_item(env, request);
    }();
    if (!envelope) {
      request_failed(std::move(work), std::move(envelope).error(), after);
      return;
    }
    // Counted without the mutex: a round of it per call contended with offer().
    get_item_calls.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t seen = largest_batch.load(std::memory_order_relaxed); seen < work.entries.size();) {
      if (largest_batch.compare_exchange_weak(seen, work.entries.size(), std::memory_order_relaxed)) break;
    }
    auto response = options.service->call(*envelope, headers, cancel, &body_buffer);
    if (!response) {
      request_failed(std::move(work), std::move(response).error(), after);
      return;
    }
    auto parsed = soap::read_get_item_response_in_place(response->body);
    // Kept for the next call unless an unusual answer made it huge.
    if (response->body.capacity() <= max_kept_body_buffer) body_buffer = std::move(response->body);
    if (!parsed) {
      request_failed(std::move(work), std::move(parsed).error(), after);
      return;
    }
    auto other_versions = other_versions_of(work, parsed->messages);
    answered(std::move(work), std::move(parsed->messages), std::move(other_versions), after);
  }

  // The keys of returned versions other than the one notified (rare: the
  // item changed since), made before taking the lock (see offer()), and
  // while the caller still holds `work`: if making one throws, the batch is
  // retried, not lost.
  static std::vector<std::optional<std::string>> other_versions_of(const batch& work,
                                                                   const std::vector<soap::get_item_message>& messages) {
    std::vector<std::optional<std::string>> other_versions(std::min(work.entries.size(), messages.size()));
    for (std::size_t i = 0; i < other_versions.size(); ++i) {
      const std::optional<soap::item>& value = messages[i].value;
      if (!messages[i].status.ok() || !value || value->id.id.empty()) continue;
      const item_id& named = work.entries[i].source.event.item;
      if (value->id.id != named.id || value->id.change_key != named.change_key) {
        other_versions[i] = dedupe_window::make_key(value->id.id, value->id.change_key);
      }
    }
    return other_versions;
  }

  // Maps each answer message to its id (the server answers in request order).
  void answered(batch work, std::vector<soap::get_item_message> messages,
                std::vector<std::optional<std::string>> other_versions, deferred& after) {
    std::vector<entry> again;
    std::optional<error_info> again_cause;
    std::unique_lock<std::mutex> lock(mutex);
    // One wake-up for the whole batch, after unlocking: a notify per item
    // under the lock woke the dispatcher only for it to block on this mutex
    // (a futex wait and wake more per batch, measured).
    struct held_signal {
      impl& self;
      explicit held_signal(impl& s) : self(s) { self.hold_outcome_signal = true; }
      ~held_signal() { self.hold_outcome_signal = false; }  // also if something below throws
    };
    std::optional<held_signal> held(std::in_place, *this);
    for (std::size_t i = 0; i < work.entries.size(); ++i) {
      entry& e = work.entries[i];
      if (i >= messages.size()) {
        finish_locked(e, outcome_kind::failed, std::nullopt,
                      make_error(errc::unexpected_response,
                                 "GetItem answered " + std::to_string(messages.size()) + " messages for " +
                                     std::to_string(work.entries.size()) + " ids"));
        continue;
      }
      soap::get_item_message& m = messages[i];
      if (m.status.ok()) {
        if (m.value) {
          fetched_locked(e, m.value, std::move(other_versions[i]));
        } else {
          finish_locked(e, outcome_kind::failed, std::nullopt,
                        make_error(errc::unexpected_response, "GetItem answered success without an item"));
        }
        continue;
      }
      error_info err = m.status.to_error();
      if (m.status.code == response_code::ErrorItemNotFound) {
        // Gone for good (ids are never reused): remember it so a repeated
        // notification does not fetch it again.
        window.insert_key(take_key_locked(e));
        finish_locked(e, outcome_kind::gone, std::nullopt, std::move(err));
      } else if (detail::is_transient_item_error(err)) {
        if (!again_cause || (err.back_off && (!again_cause->back_off || *err.back_off > *again_cause->back_off))) {
          again_cause = err;
        }
        again.push_back(std::move(e));
      } else {
        finish_locked(e, outcome_kind::failed, std::nullopt, std::move(err));
      }
    }
    if (!again.empty()) retry_locked(batch{work.mailbox, std::move(again)}, *again_cause, after);
    take_ready_locked(after);
    held.reset();
    const bool pending = !ready.empty();
    lock.unlock();
    if (pending) outcome_ready.notify_one();  // one dispatcher thread
  }

  // An item is moved once on its way from the answer to the dispatcher's
  // queue (it was six times: each moves some 20 strings).
  // `other_version` is the key of the version returned when it is not the
  // one notified (see answered()).
  void fetched_locked(entry& e, std::optional<item>& value, std::optional<std::string> other_version) {
    // The version GetItem returned decides: two events (Created, Modified)
    // fetched after both changes return the same version, delivered once.
    bool fresh = false;
    if (!other_version) {
      fresh = window.insert_key(take_key_locked(e));
    } else {
      fresh = window.insert_key(std::move(*other_version));
      // The notified version is remembered too, unless the event named none.
      if (!e.source.event.item.change_key.empty()) window.insert_key(take_key_locked(e));
    }
    if (!fresh) {
      release_key_locked(e);
      ++counts.duplicates;
      log_debug([&] {
        const item_id& got = value->id.id.empty() ? e.source.event.item : value->id;
        return "item " + describe(got) + " already delivered in this version";
      });
      unresolved.leave(e.ticket);
      release_locked(1);
      return;
    }
    finish_locked(e, outcome_kind::fetched, std::move(value), std::nullopt);
  }

  // The entry's key leaves `fetching` as a node, to move into the window
  // without allocating another. extract() by the element's own key is safe:
  // the node handle keeps it alive until the lookup is over.
  dedupe_window::key_set::node_type take_key_locked(entry& e) {
    if (!e.key) return {};
    const std::string& key = *std::exchange(e.key, nullptr);
    return fetching.extract(key);
  }

  void release_key_locked(entry& e) { take_key_locked(e); }

  void finish_locked(entry& e, outcome_kind kind, std::optional<item>&& value, std::optional<error_info> err) {
    release_key_locked(e);
    push_locked(kind, std::move(e.source), std::move(value), std::move(err), e.ticket);
  }

  void push_locked(outcome_kind kind, mailbox_event&& source, std::optional<item>&& value,
                   std::optional<error_info>&& error, std::uint64_t ticket) {
    switch (kind) {
      case outcome_kind::fetched: ++counts.fetched; break;
      case outcome_kind::gone: ++counts.gone; break;
      case outcome_kind::failed: ++counts.failed; break;
      case outcome_kind::skipped: ++counts.skipped; break;
    }
    ready.emplace_back(kind, std::move(source), std::move(value), std::move(error), ticket);
    if (!hold_outcome_signal) outcome_ready.notify_one();
  }

  void request_failed(batch work, error_info err, deferred& after) {
    std::lock_guard<std::mutex> lock(mutex);
    switch (detail::classify_request_failure(err)) {
      case detail::failure_action::split:
        if (work.entries.size() > 1) {
          // Halves go first, without a retry count: bisection finds the one
          // bad id in log2(batch) requests and costs the others nothing.
          log(log_level::warning, [&] {
            return "GetItem of " + std::to_string(work.entries.size()) + " ids failed (" + err.message +
                   "); splitting the batch";
          });
          const auto middle = work.entries.begin() + static_cast<std::ptrdiff_t>(work.entries.size() / 2);
          batch second{work.mailbox, {std::make_move_iterator(middle), std::make_move_iterator(work.entries.end())}};
          work.entries.erase(middle, work.entries.end());
          if (!stopping) {
            send_queue.push_front(std::move(second));
            send_queue.push_front(std::move(work));
            work_ready.notify_all();
          }
          break;
        }
        fail_all_locked(work, err, after);
        break;
      case detail::failure_action::retry:
        retry_locked(std::move(work), err, after);
        break;
      case detail::failure_action::fail:
        if (err.kind() == errc::cancelled && stopping) break;  // stop() counts them
        fail_all_locked(work, err, after);
        break;
    }
    take_ready_locked(after);
  }

  void fail_all_locked(batch& work, const error_info& err, deferred& after) {
    log(log_level::error, [&] {
      return "GetItem of " + std::to_string(work.entries.size()) + " ids failed: " + err.message;
    });
    for (entry& e : work.entries) finish_locked(e, outcome_kind::failed, std::nullopt, err);
    error_info report = err;
    report.message = "GetItem failed for " + std::to_string(work.entries.size()) + " items" +
                     (work.mailbox.empty() ? std::string() : " of " + work.mailbox) + ": " + err.message;
    after.errors.push_back(std::move(report));
  }

  void retry_locked(batch work, const error_info& cause, deferred& after) {
    if (stopping) return;  // stop() counts them as abandoned
    batch again{work.mailbox, {}};
    batch exhausted{work.mailbox, {}};
    int attempt = 0;
    for (entry& e : work.entries) {
      if (e.attempts >= options.retry.max_retries) {
        exhausted.entries.push_back(std::move(e));
      } else {
        attempt = std::max(attempt, ++e.attempts);
        again.entries.push_back(std::move(e));
      }
    }
    if (!exhausted.entries.empty()) fail_all_locked(exhausted, cause, after);
    if (again.entries.empty()) return;
    ++counts.retries;
    const auto delay = detail::retry_delay(options.retry, attempt, cause, rng);
    log(log_level::warning, [&] {
      return "GetItem of " + std::to_string(again.entries.size()) + " ids: " + cause.message + "; retry " +
             std::to_string(attempt) + " in " + std::to_string(delay.count()) + " ms";
    });
    const std::uint64_t generation = ++last_generation;
    retry_slot& slot = waiting[generation];
    slot.work = std::move(again);
    slot.timer = time->schedule_after(delay, [g = gate, generation] {
      std::lock_guard<std::mutex> gl(g->mutex);
      if (g->target) g->target->on_retry_due(generation);
    });
  }

  void on_retry_due(std::uint64_t generation) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = waiting.find(generation);
    if (stopping || it == waiting.end()) return;
    send_queue.push_back(std::move(it->second.work));
    waiting.erase(it);
    work_ready.notify_one();
  }

  // ---- delivering -----------------------------------------------------------

  void run_dispatcher() {
    std::unique_lock<std::mutex> lock(mutex);
    // Swapped with `ready`: the two vectors pass their memory back and forth,
    // where a deque allocated a block per outcome (each is over 1 KB).
    std::vector<ready_outcome> taken;
    for (;;) {
      outcome_ready.wait(lock, [&] { return stopping || !ready.empty(); });
      if (stopping) return;
      // Everything ready at once: one round of the mutex per batch, where
      // two per item contended with the stream's offers (futex calls,
      // measured). Order is kept.
      taken.swap(ready);
      taken_waiting = taken.size();
      lock.unlock();
      deferred after;
      std::size_t delivered = 0;
      for (; delivered < taken.size() && !stopping.load(std::memory_order_relaxed); ++delivered) {
        taken_waiting.fetch_sub(1, std::memory_order_relaxed);
        deliver(std::move(taken[delivered].outcome), after);
      }
      // Handler errors are reported before the items count as done, so
      // drain() returns after them, as when each item was released alone.
      for (const error_info& e : after.errors) report(e);
      after.errors.clear();
      lock.lock();
      taken_waiting = 0;
      for (std::size_t i = 0; i < delivered; ++i) unresolved.leave(taken[i].ticket);
      release_locked(delivered);
      // Those stop() overtook go back where it looks for undelivered work.
      if (delivered < taken.size()) {
        ready.insert(ready.begin(), std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(delivered)),
                     std::make_move_iterator(taken.end()));
      }
      taken.clear();
      // A burst's memory is not kept for good.
      if (taken.capacity() > max_kept_ready) std::vector<ready_outcome>().swap(taken);
      take_ready_locked(after);
      if (after.ready || !after.errors.empty()) {
        lock.unlock();
        run_deferred(after);
        lock.lock();
      }
    }
  }

  void deliver(item_outcome&& outcome, deferred& after) {
    // The item is named from what the handler left of the outcome, not from
    // a copy made per item in case it throws ("an item" if it took the id).
    const auto which = [&] {
      const item_id& id = outcome.source.event.item;
      return id.id.empty() ? std::string("an item") : "item " + describe(id);
    };
    try {
      options.on_outcome(std::move(outcome));
      return;
    } catch (const std::exception& e) {
      after.errors.push_back(
          make_error(errc::handler_failed, "the item handler threw for " + which() + ": " + e.what()));
    } catch (...) {
      after.errors.push_back(
          make_error(errc::handler_failed, "the item handler threw a non-standard exception for " + which()));
    }
    std::lock_guard<std::mutex> lock(mutex);
    ++counts.handler_errors;
  }

  void release_locked(std::size_t n) {
    in_progress -= std::min(n, in_progress);
    if (in_progress == 0) idle.notify_all();
  }

  // The ready signal: after a refusal, once half the room is free again.
  void take_ready_locked(deferred& after) {
    if (refused && !stopping && in_progress <= options.queue_limit / 2) {
      refused = false;
      after.ready = true;
    }
  }

  void run_deferred(const deferred& after) {
    for (const error_info& e : after.errors) report(e);
    if (after.ready && options.on_ready) {
      try {
        options.on_ready();
      } catch (...) {
        log(log_level::error, [] { return std::string("the on_ready callback threw; ignored"); });
      }
    }
  }

  void report(const error_info& e) {
    log(log_level::error, [&] { return e.message; });
    if (!options.on_error) return;
    try {
      options.on_error(e);
    } catch (...) {
      log(log_level::error, [] { return std::string("the on_error callback threw; ignored"); });
    }
  }

  // ---- lifecycle ------------------------------------------------------------

  void start() {
    try {
      dispatcher = std::thread([this] { run_dispatcher(); });
      workers.reserve(options.max_in_flight);
      for (std::size_t i = 0; i < options.max_in_flight; ++i) workers.emplace_back([this] { run_worker(); });
    } catch (...) {
      stop();
      throw;
    }
  }

  void stop() {
    std::lock_guard<std::mutex> once(stop_mutex);
    {
      std::lock_guard<std::mutex> gl(gate->mutex);
      gate->target = nullptr;
    }
    std::vector<clock::timer_id> timers;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping && stopped) return;
      stopping = true;
      if (linger_timer) timers.push_back(linger_timer->id);
      for (auto& [generation, slot] : waiting) timers.push_back(slot.timer);
    }
    for (clock::timer_id t : timers) time->cancel(t);
    cancel.cancel();
    work_ready.notify_all();
    outcome_ready.notify_all();
    idle.notify_all();
    for (std::thread& t : workers) {
      if (t.joinable()) t.join();
    }
    if (dispatcher.joinable() && dispatcher.get_id() != std::this_thread::get_id()) dispatcher.join();

    std::size_t abandoned = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopped = true;
      abandoned = in_progress;
      counts.abandoned += abandoned;
      in_progress = 0;
      forget_undelivered_locked();
      unresolved.abandon_all();
      pending.clear();
      send_queue.clear();
      waiting.clear();
      ready.clear();
      fetching.clear();
    }
    if (abandoned > 0) {
      report(make_error(errc::cancelled, "the item fetcher stopped with " + std::to_string(abandoned) +
                                             " notifications not yet delivered"));
    }
  }

  // Outcomes fetched but never handed to the handler put their versions in
  // the window; a snapshot saved now would make the restart drop them as
  // duplicates when a reconcile offers them again: lost. Forget them.
  void forget_undelivered_locked() {
    std::vector<std::string> keys;
    for (const ready_outcome& r : ready) {
      const item_outcome& o = r.outcome;
      if (o.kind != outcome_kind::fetched && o.kind != outcome_kind::gone) continue;
      const item_id& named = o.source.event.item;
      keys.push_back(dedupe_window::make_key(named.id, named.change_key));
      if (o.value && !o.value->id.id.empty()) keys.push_back(dedupe_window::make_key(o.value->id.id, o.value->id.change_key));
    }
    window.erase_keys(keys);
  }

  std::optional<std::chrono::system_clock::time_point> oldest_unresolved() const {
    std::lock_guard<std::mutex> lock(mutex);
    return unresolved.oldest();
  }

  bool drain(std::chrono::milliseconds timeout) {
    flush();
    std::unique_lock<std::mutex> lock(mutex);
    return idle.wait_for(lock, timeout, [&] { return in_progress == 0 || stopping; }) && in_progress == 0;
  }

  item_fetcher_counters snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    item_fetcher_counters c = counts;
    c.in_progress = in_progress;
    c.queue_depth = ready.size() + taken_waiting.load(std::memory_order_relaxed);
    c.in_flight = in_flight;
    c.get_item_calls = get_item_calls.load(std::memory_order_relaxed);
    c.largest_batch = largest_batch.load(std::memory_order_relaxed);
    return c;
  }

  template <class Text>
  void log(log_level level, Text&& text) const {
    if (options.log.enabled(level)) options.log(level, "item_fetcher: " + text());
  }
  template <class Text>
  void log_debug(Text&& text) const {
    log(log_level::debug, std::forward<Text>(text));
  }

  const item_fetcher_options options;
  const std::shared_ptr<ews::clock> time;
  const context cancel;  // cancelled by stop(): aborts GetItem calls in flight

  mutable std::mutex mutex;
  std::condition_variable work_ready;     // workers: send_queue or stopping
  std::condition_variable outcome_ready;  // dispatcher: ready or stopping
  std::condition_variable idle;           // drain(): in_progress == 0

  // Set under `mutex`; atomic so the dispatcher can see it between items
  // without the lock.
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> taken_waiting{0};  // outcomes the dispatcher took from `ready`, not yet handed over
  std::atomic<std::uint64_t> get_item_calls{0};  // counts.get_item_calls
  std::atomic<std::size_t> largest_batch{0};     // counts.largest_batch
  bool hold_outcome_signal = false;  // answered() notifies the dispatcher once, unlocked
  bool stopped = false;
  bool refused = false;
  std::size_t in_progress = 0;
  std::size_t in_flight = 0;
  item_fetcher_counters counts;

  dedupe_window window;
  dedupe_window::key_set fetching;  // keys of versions in progress (see entry::key)
  std::unordered_map<std::string, pending_slot> pending;  // by mailbox
  struct armed_timer {
    clock::timer_id id;
    clock::time_point due;
    std::uint64_t generation;  // tells its callback from a replaced one's
  };
  std::optional<armed_timer> linger_timer;
  std::deque<batch> send_queue;
  std::map<std::uint64_t, retry_slot> waiting;  // batches waiting for their back-off
  std::vector<ready_outcome> ready;
  detail::unresolved_times unresolved;  // arrival of every accepted event not yet handled
  std::uint64_t last_generation = 0;
  std::minstd_rand rng;

  std::shared_ptr<timer_gate> gate;
  std::mutex stop_mutex;
  std::thread dispatcher;
  std::vector<std::thread> workers;
};

namespace {

status validate(const item_fetcher_options& o) {
  if (!o.service) return invalid_option("service is null");
  if (!o.on_outcome) return invalid_option("on_outcome is empty");
  if (o.batch_size < 1 || o.batch_size > max_batch_size) return invalid_option("batch_size must be 1..1000");
  if (o.max_in_flight < 1 || o.max_in_flight > max_workers) return invalid_option("max_in_flight must be 1..64");
  if (o.queue_limit < 1) return invalid_option("queue_limit must be at least 1");
  if (o.linger.count() < 0) return invalid_option("linger is negative");
  if (o.retry.max_retries < 0) return invalid_option("retry.max_retries is negative");
  if (o.retry.initial_delay.count() < 0 || o.retry.max_delay.count() < 0) {
    return invalid_option("retry delays must not be negative");
  }
  return ok;
}

}  // namespace

item_fetcher::item_fetcher(item_fetcher_options options) {
  if (auto valid = validate(options); !valid) throw error(valid.error());
  impl_ = std::make_unique<impl>(std::move(options));
  impl_->start();
}

item_fetcher::~item_fetcher() {
  impl_->stop();
  if (impl_->dispatcher.joinable()) impl_->dispatcher.join();
}

bool item_fetcher::offer(mailbox_event&& event) { return impl_->offer(std::move(event)); }
void item_fetcher::flush() { impl_->flush(); }
void item_fetcher::end_of_burst() { impl_->end_of_burst(); }
bool item_fetcher::drain(std::chrono::milliseconds timeout) { return impl_->drain(timeout); }
void item_fetcher::stop() { impl_->stop(); }
item_fetcher_counters item_fetcher::counters() const { return impl_->snapshot(); }

std::optional<std::chrono::system_clock::time_point> item_fetcher::oldest_unresolved() const {
  return impl_->oldest_unresolved();
}

std::vector<std::string> item_fetcher::dedupe_snapshot() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->window.snapshot();
}

void item_fetcher::restore_dedupe(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->window.restore(keys);
}

}  // namespace ews
