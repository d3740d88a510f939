#include <ews/sync_poller.hpp>

#include <ews/dedupe_window.hpp>
#include <ews/soap/requests.hpp>
#include <ews/soap/service_client.hpp>

#include "sync/clock_wait.hpp"
#include "sync/iso8601.hpp"

#include <algorithm>
#include <mutex>
#include <random>

namespace ews {
namespace {

using namespace std::chrono_literals;

error_info invalid_option(const std::string& name, const std::string& why) {
  return make_error(errc::invalid_argument, "sync_poller_options::" + name + " " + why);
}

bool contains(const std::vector<event_type>& types, event_type t) {
  return std::find(types.begin(), types.end(), t) != types.end();
}

// The dedupe key of a change. Creates and updates are item versions (the
// same key an item_fetcher uses); deletes and read-flag changes are marked so
// they never collide with a version of the same id.
std::string key_of(const sync_change& c) {
  switch (c.kind) {
    case sync_change_kind::create:
    case sync_change_kind::update:
      return dedupe_window::make_key(c.id.id, c.id.change_key);
    case sync_change_kind::remove:
      return "\x01" "delete " + dedupe_window::make_key(c.id.id, {});
    case sync_change_kind::read_flag_change:
      return std::string("\x01" "read=") + (c.is_read.value_or(false) ? "1 " : "0 ") +
             dedupe_window::make_key(c.id.id, c.id.change_key);
  }
  return dedupe_window::make_key(c.id.id, c.id.change_key);
}

}  // namespace

const char* to_string(sync_change_kind kind) noexcept {
  switch (kind) {
    case sync_change_kind::create: return "create";
    case sync_change_kind::update: return "update";
    case sync_change_kind::remove: return "delete";
    case sync_change_kind::read_flag_change: return "read_flag";
  }
  return "unknown";
}

soap::item_shape default_sync_item_shape() {
  soap::item_shape shape;
  shape.base_shape = soap::item_shape::base::id_only;
  shape.additional_properties = {"item:ParentFolderId", "item:ItemClass", "item:Subject", "item:DateTimeReceived",
                                 "item:Size",           "message:From",   "message:IsRead"};
  return shape;
}

struct sync_poller::impl {
  sync_poller_options options;
  folder_key key;
  std::string window_name;
  soap::envelope_options envelope;
  soap::http_headers headers;
  dedupe_window window;
  bool window_loaded = false;
  bool window_dirty = false;
  std::minstd_rand jitter;
  std::mutex run_mutex;  // serialises runs

  explicit impl(sync_poller_options o)
      : options(std::move(o)),
        key{options.mailbox, options.folder},
        window_name("sync/" + std::to_string(options.mailbox.size()) + ":" + options.mailbox + options.folder),
        window(options.dedupe_capacity != 0 ? options.dedupe_capacity
                                             : 2 * static_cast<std::size_t>(std::max(1, options.max_changes_returned))),
        jitter(std::random_device{}()) {
    envelope.server_version = options.server_version;
    if (!options.mailbox.empty()) {
      envelope.impersonate = soap::impersonation{soap::impersonation::kind::smtp_address, options.mailbox};
      // Routes the request to the mailbox's server (Exchange Online affinity).
      headers.push_back({"X-AnchorMailbox", options.mailbox});
    }
  }

  void log(log_level level, const std::string& text) const {
    if (options.log.enabled(level)) {
      options.log(level, "sync " + (options.mailbox.empty() ? std::string("(own)") : options.mailbox) + "/" +
                             options.folder + ": " + text);
    }
  }

  void report(const error_info& e) const {
    if (options.on_error) options.on_error(e);
  }

  soap::folder_ref folder_ref() const {
    if (soap::is_distinguished_folder_name(options.folder)) return soap::folder_ref::distinguished_folder(options.folder);
    return soap::folder_ref::by_id(options.folder);
  }

  clock::duration retry_delay(int attempt, const error_info& e) {
    const auto& r = options.retry;
    auto delay = r.initial_delay;
    for (int i = 1; i < attempt && delay < r.max_delay; ++i) delay *= 2;
    delay = std::min(delay, r.max_delay);
    // Upper half randomised so pollers of many mailboxes do not retry in step.
    const auto half = delay.count() / 2;
    delay = std::chrono::milliseconds(half + (half > 0 ? static_cast<long long>(jitter() % (half + 1)) : 0));
    if (e.back_off && *e.back_off > delay) delay = *e.back_off;
    return delay;
  }

  // One SyncFolderItems request, retried through throttling and transient
  // failures. Returns the response whatever its message status.
  soap::sync_folder_items_response fetch_page(const std::string& state, const context& ctx,
                                              sync_run_result& stats) {
    soap::sync_folder_items_request request;
    request.folder = folder_ref();
    request.sync_state = state;
    request.max_changes_returned = options.max_changes_returned;
    request.shape = options.shape;
    const std::string body = soap::build_sync_folder_items(envelope, request).value();

    for (int attempt = 0;; ++attempt) {
      if (ctx.done()) throw ews::error(detail::context_error(ctx));
      std::optional<error_info> failure;
      auto reply = options.service->call(body, headers, ctx);
      if (reply) {
        auto page = soap::read_sync_folder_items_response(reply->body);
        if (!page) throw ews::error(std::move(page).error());
        if (page->status.ok() || page->status.code == response_code::ErrorInvalidSyncStateData) {
          return std::move(*page);
        }
        failure = page->status.to_error();
      } else {
        failure = std::move(reply).error();
        if (failure->ews_code == response_code::ErrorInvalidSyncStateData) {
          // The same verdict as a SOAP fault instead of a response message.
          soap::sync_folder_items_response rejected;
          rejected.status.cls = soap::response_class::error;
          rejected.status.code = response_code::ErrorInvalidSyncStateData;
          rejected.status.code_text = "ErrorInvalidSyncStateData";
          rejected.status.message_text = failure->message;
          return rejected;
        }
      }
      if (!failure->retryable() || attempt >= options.retry.max_retries || ctx.done()) {
        if (ctx.done()) throw ews::error(detail::context_error(ctx));
        throw ews::error(std::move(*failure));
      }
      const auto delay = retry_delay(attempt + 1, *failure);
      log(log_level::warning, "SyncFolderItems failed (" + failure->code_name() + ": " + failure->message +
                                  "); retry " + std::to_string(attempt + 1) + " in " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
                                  " ms");
      ++stats.retries;
      detail::wait_on_clock(*options.time, delay, ctx).value();
    }
  }

  void load_window() {
    if (window_loaded) return;
    window.restore(options.store->load_dedupe_keys(window_name).value());
    window_loaded = true;
  }

  void save_window() {
    if (!window_dirty) return;
    options.store->save_dedupe_keys(window_name, window.snapshot()).value();
    window_dirty = false;
  }

  std::optional<event_type> sink_type(sync_change_kind kind) const {
    const auto& wanted = options.sink_events;
    switch (kind) {
      case sync_change_kind::create:
        if (contains(wanted, event_type::new_mail)) return event_type::new_mail;
        if (contains(wanted, event_type::created)) return event_type::created;
        return std::nullopt;
      case sync_change_kind::update:
      case sync_change_kind::read_flag_change:
        if (contains(wanted, event_type::modified)) return event_type::modified;
        return std::nullopt;
      case sync_change_kind::remove:
        if (contains(wanted, event_type::deleted)) return event_type::deleted;
        return std::nullopt;
    }
    return std::nullopt;
  }

  void offer(const sync_change& change, event_type type, const context& ctx) {
    mailbox_event event;
    event.mailbox = options.mailbox;
    event.event.type = type;
    event.event.item = change.id;
    event.event.parent_folder_id = options.folder;
    if (change.value) {
      if (!change.value->parent_folder_id.empty()) event.event.parent_folder_id = change.value->parent_folder_id;
      event.event.timestamp = change.value->date_time_received;
    }
    const auto give_up = options.time->now() + options.sink_timeout;
    // A refused offer leaves the event untouched, so it can be offered again.
    while (!options.sink(std::move(event))) {
      if (options.time->now() >= give_up) {
        throw ews::error(make_error(errc::timeout, "the event sink refused a change for " +
                                                       std::to_string(options.sink_timeout.count()) + " ms",
                                    true));
      }
      detail::wait_on_clock(*options.time, options.sink_retry, ctx).value();
    }
  }

  bool before_cutoff(const sync_change& change) const {
    if (!options.created_since || change.kind != sync_change_kind::create || !change.value) return false;
    const auto received = detail::parse_iso8601(change.value->date_time_received);
    return received && *received < *options.created_since;
  }

  // Hands the page's changes over; keys enter the window only after their
  // change was accepted, so a change whose handler threw comes again. On any
  // failure the window is saved first, so the next run (or a new poller on
  // the same store) does not repeat what was handed over; if that save fails
  // too, at-least-once still holds.
  void deliver(const std::vector<sync_change>& changes, const context& ctx, sync_run_result& stats) {
    try {
      for (const auto& change : changes) {
        std::string k = key_of(change);
        if (window.contains_key(k)) {
          ++stats.duplicates;
          continue;
        }
        if (before_cutoff(change)) {
          ++stats.filtered;
        } else {
          if (options.on_change) call_handler(change);
          if (options.sink) {
            if (auto type = sink_type(change.kind)) call_sink(change, *type, ctx);
          }
          ++stats.delivered;
        }
        window.insert_key(std::move(k));
        window_dirty = true;
      }
    } catch (...) {
      try {
        save_window();
      } catch (const std::exception& e) {
        log(log_level::warning, "could not save the dedupe window: " + std::string(e.what()));
      }
      throw;
    }
  }

  void call_sink(const sync_change& change, event_type type, const context& ctx) {
    try {
      offer(change, type, ctx);
    } catch (const ews::error&) {
      throw;
    } catch (const std::exception& e) {
      throw ews::error(make_error(errc::handler_failed, std::string("the event sink threw: ") + e.what()));
    } catch (...) {
      throw ews::error(make_error(errc::handler_failed, "the event sink threw a non-standard exception"));
    }
  }

  void call_handler(const sync_change& change) {
    try {
      options.on_change(sync_event{options.mailbox, options.folder, change});
    } catch (const std::exception& e) {
      throw ews::error(make_error(errc::handler_failed, std::string("the change handler threw: ") + e.what()));
    } catch (...) {
      throw ews::error(make_error(errc::handler_failed, "the change handler threw a non-standard exception"));
    }
  }

  sync_run_result run_once(const context& ctx) {
    std::lock_guard<std::mutex> lock(run_mutex);
    sync_run_result stats;
    load_window();
    std::string state = options.store->load_sync_state(key).value().value_or(std::string{});
    log(log_level::debug, state.empty() ? "syncing from the start" : "resuming from the stored SyncState");

    while (stats.pages < options.max_pages) {
      auto page = fetch_page(state, ctx, stats);
      if (page.status.code == response_code::ErrorInvalidSyncStateData) {
        error_info e = page.status.to_error();
        if (state.empty() || stats.sync_state_reset) throw ews::error(std::move(e));
        // The server forgot (or never knew) this state: start over rather than
        // stop syncing for good, and say so.
        options.store->clear_sync_state(key).value();
        state.clear();
        stats.sync_state_reset = true;
        e.message = "the stored SyncState was rejected (ErrorInvalidSyncStateData); syncing " +
                    (options.mailbox.empty() ? std::string("own mailbox") : options.mailbox) + "/" + options.folder +
                    " again from the start";
        log(log_level::warning, e.message);
        report(e);
        continue;
      }
      ++stats.pages;
      stats.changes += page.changes.size();
      const bool last = page.includes_last_item_in_range;
      if (!last && (page.changes.empty() || page.sync_state.empty() || page.sync_state == state)) {
        // Paging on would ask the same question again, for ever.
        throw ews::error(make_error(errc::unexpected_response,
                                    "SyncFolderItems page says more changes follow but made no progress"));
      }
      deliver(page.changes, ctx, stats);
      if (options.sink && options.sink_drain && !page.changes.empty() && !options.sink_drain()) {
        // Not saved: after a crash the page comes again. In this process the
        // window still holds the offered changes, which the sink still has.
        throw ews::error(make_error(errc::timeout,
                                    "the event sink did not finish the page's events; its SyncState is not saved",
                                    true));
      }
      save_window();
      if (!page.sync_state.empty() && page.sync_state != state) {
        options.store->save_sync_state(key, page.sync_state).value();
        state = std::move(page.sync_state);
      }
      log(log_level::debug, "page " + std::to_string(stats.pages) + ": " + std::to_string(page.changes.size()) +
                                " changes" + (last ? ", up to date" : ""));
      if (last) {
        stats.complete = true;
        break;
      }
    }
    stats.sync_state = std::move(state);
    return stats;
  }
};

sync_poller::sync_poller(sync_poller_options options) {
  if (!options.service) throw ews::error(invalid_option("service", "is required"));
  if (options.folder.empty()) throw ews::error(invalid_option("folder", "is empty"));
  if (options.max_changes_returned < 1 || options.max_changes_returned > 512) {
    throw ews::error(invalid_option("max_changes_returned",
                                    "is " + std::to_string(options.max_changes_returned) + "; 1 to 512 are allowed"));
  }
  if (options.max_pages == 0) throw ews::error(invalid_option("max_pages", "is 0"));
  if (options.retry.max_retries < 0) throw ews::error(invalid_option("retry.max_retries", "is negative"));
  if (options.interval < std::chrono::milliseconds(0)) throw ews::error(invalid_option("interval", "is negative"));
  if (!options.on_change && !options.sink) throw ews::error(invalid_option("on_change", "and sink are both empty"));
  if (options.sink && options.sink_retry <= std::chrono::milliseconds(0)) {
    throw ews::error(invalid_option("sink_retry", "must be positive"));
  }
  if (!options.store) options.store = make_memory_checkpoint_store();
  if (!options.time) options.time = make_steady_clock();
  // Checked now so a bad shape fails at construction, not on the first run.
  soap::sync_folder_items_request probe{soap::folder_ref::distinguished_folder("inbox"), {}, 1, options.shape};
  if (auto built = soap::build_sync_folder_items({}, probe); !built) {
    throw ews::error(invalid_option("shape", built.error().message));
  }
  impl_ = std::make_unique<impl>(std::move(options));
}

sync_poller::~sync_poller() = default;

sync_run_result sync_poller::run_once(const context& ctx) { return impl_->run_once(ctx); }

void sync_poller::run(const context& ctx) {
  while (!ctx.done()) {
    try {
      impl_->run_once(ctx);
    } catch (const ews::error& e) {
      if (ctx.done()) return;
      impl_->log(log_level::error, std::string("run failed: ") + e.what());
      impl_->report(e.info());
    } catch (const std::exception& e) {
      // A store or allocator failure: reported, the loop carries on.
      if (ctx.done()) return;
      impl_->report(make_error(errc::io_error, std::string("run failed: ") + e.what()));
    }
    if (!detail::wait_on_clock(*impl_->options.time, impl_->options.interval, ctx)) return;
  }
}

const std::string& sync_poller::mailbox() const noexcept { return impl_->options.mailbox; }
const std::string& sync_poller::folder() const noexcept { return impl_->options.folder; }

}  // namespace ews
