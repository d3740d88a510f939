// ews-soak: the listener (on_item: stream -> GetItem -> outcome) against the
// replay server in a generating mode, with faults injected at a fixed seed.
//
//   ews-soak [--mails M] [--mailboxes K] [--seed S] [--limit SECONDS] [--expiry 0|1]
//            [--per-connection N] [--rate MAILS_PER_S] [--malformed 0|1]
//            [--restarts R] [--slack SECONDS] [--save-now 0|1] [--stalls 0|1]
//            [--subscribe-ms MS] [--asio 0|1]
//
// The server creates M mails across K mailboxes at a steady rate (from a
// thread of its own, once every mailbox is subscribed) and streams them as
// NewMail notifications on whatever GetStreamingEvents connections the
// listener opens (K / N of them, N = max_subscriptions_per_connection);
// GetItem is answered from the generated mailboxes. What the server
// generates (each mail's id, mailbox, and whether it is deleted at once) is a
// function of the seed; when things happen depends on timing. Faults, drawn
// per connection from the seed: a reset mid-envelope, a silence beyond the
// heartbeat timeout, ConnectionStatus Closed with the socket left open, a
// clean end, 503 with Retry-After 1, ErrorServerBusy with BackOffMilliseconds,
// ErrorItemNotFound for mails deleted before their fetch, and (--malformed 1)
// now and then an envelope with broken XML, either inside (the framing holds,
// the reader rejects it: the stream reads on) or in a tag (the framing
// breaks: the client drops the stream). The server counts a broken
// envelope's events as sent, as a real one would.
//
// Like a real server, it keeps a queue per subscription: what it had queued is
// sent on the next stream; the events of an envelope torn by a reset are
// queued again (the client never saw them whole). A subscription lives until
// Unsubscribe, or until it expires (--expiry 1: the server forgets one
// halfway through a stream, with its queue, and ends the stream with
// ErrorSubscriptionNotFound); mails created while a mailbox has no live
// subscription reach no stream. Every loss of that kind shows up as a gap,
// and the soak reconciles gaps on a thread of its own (SyncFolderItems from
// the generated mailbox, through the listener's fetcher and its dedupe
// window), with `--slack` seconds of reconcile slack, each mail's
// DateTimeReceived being its creation time.
//
// --restarts R stops the service R times, evenly spaced over the mails, and
// starts it again from its checkpoint directory (a file checkpoint store in
// a temporary directory), wired as samples/ews_listen.cpp is: the dedupe
// window restored into the listener, a restart gap per folder from the saved
// last-event time, the dedupe window and the last-event time saved every
// second and at stop. The last-event time saved is the listener's
// delivered_through() held back by gaps not reconciled yet (--save-now 1: the
// current time, as ews-listen did before; it loses mails), and a restart gap
// is reconciled once every subscription exists again.
//
// --stalls 1: the handler stalls 3 s every 500 outcomes and the fetcher holds
// at most 100 items, so streams pause with envelopes waiting in the socket.
// --subscribe-ms: each Subscribe takes that long on the server.
//
// Prints one line and exits 1 when a mail was lost or delivered twice:
//   mails M, delivered D, gone G, lost L, duplicates X, reconnects R, gaps P, peak RSS S
#include <ews/checkpoint_store.hpp>
#include <ews/listener.hpp>
#include <ews/reconciler.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/testing/replay_server.hpp>

#include "streaming_wire.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace rt = ews::testing;
namespace wire = ews::test::wire;

namespace {

struct soak_options {
  std::size_t mails = 2000;
  std::size_t mailboxes = 20;
  std::uint64_t seed = 1;
  std::chrono::seconds limit{300};
  /// Also let subscriptions expire: the server drops what it had queued for
  /// one and the listener's gap must bring it back through a reconcile.
  bool expiry = true;
  /// listener_options::max_subscriptions_per_connection (1..200): a small
  /// value gives a small run several connections.
  std::size_t per_connection = 200;
  /// Mails created per second.
  std::size_t rate = 200;
  /// Now and then an envelope with broken XML.
  bool malformed = true;
  /// Stops and starts of the service, evenly spaced over the mails.
  std::size_t restarts = 0;
  /// reconcile_options::slack.
  std::chrono::seconds slack{2};
  /// Save the current time as the last-event time while streaming, as
  /// ews-listen did before listener::delivered_through() (to show the loss).
  bool save_now = false;
  /// A slow application: every 500th outcome the handler stalls 3 s, and the
  /// fetcher holds at most 100 items, so streams pause (back-pressure) with
  /// envelopes waiting in the socket.
  bool stalls = false;
  /// Milliseconds each Subscribe takes on the server.
  std::size_t subscribe_ms = 0;
  bool asio = false;  // the Boost.Beast/Asio HTTP engine instead of cpprestsdk
};

std::string mailbox_address(std::size_t k) { return "user" + std::to_string(k) + "@soak.test"; }

// The generated mail server: mailboxes, live subscriptions and their queues,
// the mails deleted before they were fetched. Called from the replay
// server's connection threads and the generator thread, hence one mutex.
class mail_server {
 public:
  explicit mail_server(const soak_options& o) : options_(o), rng_(o.seed), fetch_rng_(o.seed + 1) {
    store_.resize(o.mailboxes);
    sub_of_.resize(o.mailboxes);
  }
  ~mail_server() { stop(); }

  // Starts creating mails once every mailbox has been subscribed (mails
  // before the service ever started are no one's business).
  void start() {
    generator_ = std::thread([this] { generate(); });
  }
  // The soak is over: what is dropped from now on is not the run's.
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (generator_.joinable()) generator_.join();
  }

  // Subscribe: a fresh id per Subscribe. A mailbox has at most one live
  // subscription here: a new Subscribe replaces the old one (whose queue no
  // stream will carry any more).
  rt::response subscribe(const rt::received_request& r) {
    static const std::regex smtp("SmtpAddress>([^<]+)<");
    std::smatch m;
    if (!std::regex_search(r.body, m, smtp))
      return rt::soap_response(wire::error_message("ErrorNonExistentMailbox"), 500);
    const auto k = mailbox_index(m[1]);
    if (k >= options_.mailboxes) return rt::soap_response(wire::error_message("ErrorNonExistentMailbox"), 500);
    // A Subscribe takes time on a real server; meanwhile mails reach no stream.
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.subscribe_ms));
    std::string id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!sub_of_[k].empty()) forget_locked(sub_of_[k], "replaced");
      id = "SUB-" + std::to_string(k) + "-" + std::to_string(++subscriptions_);
      subs_[id].mailbox = k;
      sub_of_[k] = id;
      if (!generating_ && subs_.size() == options_.mailboxes) {
        generating_ = true;
        wake_.notify_all();
      }
    }
    return rt::soap_response(wire::subscribe_response(id));
  }

  // Unsubscribe: the server forgets the subscription and what it had queued.
  rt::response unsubscribe(const rt::received_request& r) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& id : wire::subscription_ids(r.body)) {
      ++faults_["Unsubscribe"];
      forget_locked(id, "unsubscribed");
    }
    return rt::soap_response(wire::unsubscribe_response());
  }

  rt::response get_streaming_events(const rt::received_request& r) {
    const auto ids = wire::subscription_ids(r.body);
    std::lock_guard<std::mutex> lock(mutex_);
    // Faults are drawn per connection (named by its lowest mailbox) and per
    // stream of that connection, so that several connections do not shift
    // each other's faults.
    std::size_t anchor = options_.mailboxes;
    std::vector<std::string> unknown;
    for (const auto& id : ids) {
      auto it = subs_.find(id);
      if (it == subs_.end()) unknown.push_back(id);
      else anchor = std::min(anchor, it->second.mailbox);
    }
    rt::response resp;
    resp.status = 200;
    if (!unknown.empty()) {
      // Subscriptions this server no longer knows (expired, unsubscribed,
      // replaced): say so at once; the client subscribes them again.
      ++faults_["unknown subscription"];
      resp.more_chunks = [unknown](std::size_t i) -> std::optional<rt::chunk> {
        if (i > 0) return std::nullopt;
        rt::chunk c;
        c.data = wire::error_message("ErrorSubscriptionNotFound", unknown);
        return c;
      };
      return resp;
    }
    const auto serial = ++streams_of_[anchor];
    std::mt19937_64 rng(options_.seed * 1000003u + anchor * 7919u + serial);
    const auto roll = std::uniform_int_distribution<int>(0, 99)(rng);
    if (roll < 8) {
      ++faults_["503"];
      return rt::http_error(503, 1s);
    }
    if (roll < 16) {
      ++faults_["ErrorServerBusy"];
      return rt::soap_response(wire::server_busy_fault(200), 500);
    }
    auto s = std::make_shared<stream_state>();
    s->subs = ids;
    // The fault that ends this stream after `envelopes` chunks.
    s->which = std::uniform_int_distribution<int>(0, options_.expiry && !ids.empty() ? 4 : 3)(rng);
    // For an expiry: the subscription the server forgets halfway through.
    s->lost_sub = ids.empty() ? std::string() : ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(rng)];
    s->envelopes = std::uniform_int_distribution<std::size_t>(5, 40)(rng);
    // Now and then one envelope with broken XML: mostly inside (the reader
    // rejects it, the stream reads on), sometimes in a tag (the framing
    // breaks and the stream ends there).
    const auto malformed_roll = std::uniform_int_distribution<int>(0, 99)(rng);
    if (options_.malformed && malformed_roll < 12) {
      s->malformed_at = std::uniform_int_distribution<std::size_t>(0, s->envelopes - 1)(rng);
      s->malformed_framing = malformed_roll < 4;
    }
    resp.hold_for = 10s;
    const char* names[] = {"reset mid-envelope", "silence", "Closed", "end", "expired"};
    ++faults_[names[s->which]];
    resp.end = s->which == 0 ? rt::ending::reset : s->which >= 3 ? rt::ending::final : rt::ending::hold;
    resp.more_chunks = [this, s](std::size_t i) -> std::optional<rt::chunk> { return next_chunk(*s, i); };
    return resp;
  }

  rt::response get_item(const rt::received_request& r) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto roll = std::uniform_int_distribution<int>(0, 99)(fetch_rng_);
      if (roll < 3) {
        ++faults_["GetItem 503"];
        return rt::http_error(503, 1s);
      }
      if (roll < 6) {
        ++faults_["GetItem ErrorServerBusy"];
        return rt::soap_response(wire::server_busy_fault(100), 500);
      }
    }
    return rt::soap_response(wire::get_item_answer(r.body, [this](const std::string& id) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mutex_);
      if (deleted_.count(id) != 0) return std::nullopt;
      return "soak " + id;
    }));
  }

  // SyncFolderItems over a mailbox's inbox: the state is the count of mails
  // already reported; every mail is a Create received when it was created (a
  // deleted one then fetches as gone, as when it is deleted between the sync
  // and the fetch).
  rt::response sync_folder_items(const rt::received_request& r) {
    static const std::regex smtp("SmtpAddress>([^<]+)<");
    static const std::regex state("SyncState>([0-9]+)<");
    static const std::regex max_changes("MaxChangesReturned>([0-9]+)<");
    std::smatch m;
    std::size_t k = 0, from = 0, max = 512;
    if (std::regex_search(r.body, m, smtp)) k = std::min(mailbox_index(m[1]), options_.mailboxes - 1);
    if (std::regex_search(r.body, m, state)) from = std::stoul(m[1]);
    if (std::regex_search(r.body, m, max_changes)) max = std::max<std::size_t>(1, std::stoul(m[1]));
    std::string changes;
    std::lock_guard<std::mutex> lock(mutex_);
    ++faults_["SyncFolderItems"];
    const auto& items = store_[k];
    from = std::min(from, items.size());
    const std::size_t to = std::min(items.size(), from + max);
    for (std::size_t i = from; i < to; ++i) {
      const auto& mail = mails_[items[i]];
      changes += "<t:Create><t:Message><t:ItemId Id=\"" + mail.id +
                 "\" ChangeKey=\"CK1\"/><t:ParentFolderId Id=\"INBOX-ID\"/><t:ItemClass>IPM.Note</t:ItemClass>"
                 "<t:Subject>soak</t:Subject><t:DateTimeReceived>" + mail.received +
                 "</t:DateTimeReceived><t:Size>1234</t:Size></t:Message></t:Create>";
    }
    const bool last = to == items.size();
    return rt::soap_response(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
        "<m:SyncFolderItemsResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
        "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>"
        "<m:SyncFolderItemsResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
        "<m:SyncState>" + std::to_string(to) + "</m:SyncState><m:IncludesLastItemInRange>" +
        (last ? "true" : "false") + "</m:IncludesLastItemInRange><m:Changes>" + changes +
        "</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"
        "</s:Body></s:Envelope>");
  }

  std::size_t created() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return mails_.size();
  }
  std::set<std::string> deleted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return deleted_;
  }
  std::size_t dropped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }
  std::map<std::string, std::size_t> faults() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return faults_;
  }
  // FNV-1a over what was generated (ids, deleted or not), in creation order:
  // equal for equal seeds, whatever the timing.
  // Per cause: mails no stream carried, and how many of them are in `resolved`.
  std::map<std::string, std::pair<std::size_t, std::size_t>> dropped_by_cause(const std::set<std::string>& resolved) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, std::pair<std::size_t, std::size_t>> r;
    for (const auto& d : dropped_how_) {
      auto& c = r[d.second];
      ++c.first;
      if (resolved.count(mails_[d.first].id)) ++c.second;
    }
    return r;
  }
  // The mails without an outcome in `resolved` (at most `max`), with their creation times.
  std::vector<std::string> unresolved(const std::set<std::string>& resolved, std::size_t max) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> v;
    for (const auto& m : mails_)
      if (!resolved.count(m.id) && v.size() < max) {
        const auto how = dropped_how_.find(static_cast<std::size_t>(&m - mails_.data()));
        v.push_back(m.id + " (created " + m.received + (how != dropped_how_.end() ? ", " + how->second : std::string()) + ")");
      }
    return v;
  }
  std::uint64_t digest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::uint64_t h = 1469598103934665603ull;
    for (const auto& mail : mails_) {
      for (char c : mail.id + (deleted_.count(mail.id) ? "D" : "")) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
  }

 private:
  struct mail {
    std::string id;
    std::string received;  // ISO 8601: the creation time, as TimeStamp and DateTimeReceived
  };
  struct subscription {
    std::size_t mailbox = 0;
    std::deque<std::size_t> queue;  // mails (indexes into mails_) not yet sent
  };
  struct stream_state {
    std::vector<std::string> subs;
    int which = 0;
    std::string lost_sub;
    std::size_t envelopes = 0;
    std::optional<std::size_t> malformed_at;
    bool malformed_framing = false;
    std::vector<std::pair<std::string, std::size_t>> sent;  // (subscription, mail) this stream carried
  };

  std::size_t mailbox_index(const std::string& address) const {
    static const std::regex user("user([0-9]+)@soak\\.test");
    std::smatch m;
    if (!std::regex_match(address, m, user)) return options_.mailboxes;
    return std::stoul(m[1]);
  }

  // Under the lock: the server no longer knows `id`; what it had queued
  // reaches no stream.
  void forget_locked(const std::string& id, const char* why) {
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    for (auto m : it->second.queue) drop_locked(m, why);
    if (sub_of_[it->second.mailbox] == id) sub_of_[it->second.mailbox].clear();
    subs_.erase(it);
  }

  // The generator thread: `rate` mails a second, in ticks of 10 ms. Each mail
  // draws its mailbox and whether it is deleted at once (1 in 50) from rng_,
  // in creation order, so the mails are the same at every run of a seed.
  void generate() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || generating_; });
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t tick = 1; !stopping_ && mails_.size() < options_.mails; ++tick) {
      const std::size_t due = std::min(options_.mails, tick * options_.rate / 100);
      const auto now = ews::to_iso8601(std::chrono::system_clock::now());
      while (mails_.size() < due) {
        const auto k = std::uniform_int_distribution<std::size_t>(0, options_.mailboxes - 1)(rng_);
        const auto index = mails_.size();
        mails_.push_back(mail{"MAIL-" + std::to_string(k) + "-" + std::to_string(index), now});
        store_[k].push_back(index);
        if (sub_of_[k].empty()) drop_locked(index, "no subscription");
        else subs_[sub_of_[k]].queue.push_back(index);
        if (std::uniform_int_distribution<int>(0, 49)(rng_) == 0) deleted_.insert(mails_.back().id);
      }
      wake_.wait_until(lock, start + tick * 10ms, [&] { return stopping_; });
    }
  }

  // Takes up to 50 queued events per live subscription of the stream as
  // notifications, appending them to `taken`.
  std::string take_events(const std::vector<std::string>& subs, std::vector<std::pair<std::string, std::size_t>>* taken) {
    std::string notifications;
    for (const auto& id : subs) {
      auto it = subs_.find(id);
      if (it == subs_.end()) continue;
      auto& q = it->second.queue;
      std::string events;
      for (std::size_t n = 0; !q.empty() && n < 50; ++n) {
        const auto& m = mails_[q.front()];
        events += wire::new_mail_event(m.id, "CK1", "INBOX-ID", m.received);
        if (taken) taken->emplace_back(id, q.front());
        else drop_locked(q.front(), "malformed envelope");
        q.pop_front();
      }
      if (!events.empty()) notifications += wire::notification(id, events);
    }
    return notifications;
  }

  bool has_events(const std::vector<std::string>& subs) const {
    for (const auto& id : subs) {
      auto it = subs_.find(id);
      if (it != subs_.end() && !it->second.queue.empty()) return true;
    }
    return false;
  }

  // An envelope the client cannot read: a mismatched end tag (the framing
  // holds) or a `<` inside a start tag (the framing breaks). Its events are
  // gone as far as the server knows.
  std::string malformed_envelope(stream_state& s) {
    std::string e = wire::events(take_events(s.subs, nullptr));
    if (s.malformed_framing) {
      ++faults_["malformed framing"];
      const auto at = e.find("<m:ResponseMessages>");
      e.insert(at + 20, "<t:Broken a=\"<\"/>");
      return e;
    }
    ++faults_["malformed envelope"];
    for (const char* tag : {"</t:NewMailEvent>", "</m:ResponseCode>"}) {
      const auto at = e.find(tag);
      if (at != std::string::npos) {
        e.insert(at + std::string(tag).size() - 1, "X");
        break;
      }
    }
    return e;
  }

  std::optional<rt::chunk> next_chunk(stream_state& s, std::size_t i) {
    std::lock_guard<std::mutex> lock(mutex_);
    rt::chunk c;
    if (s.which == 4 && i == s.envelopes / 2) {
      // The server forgets the subscription and what it had queued for it;
      // mails keep arriving in the mailbox but no longer on any stream.
      forget_locked(s.lost_sub, "expired");
    }
    // The broken envelope: the first at or after malformed_at that has events
    // to lose (a broken keep-alive loses nothing).
    if (s.malformed_at && i >= *s.malformed_at && i < s.envelopes && has_events(s.subs)) {
      s.malformed_at.reset();
      c.after = 10ms;
      c.data = malformed_envelope(s);
      if (s.malformed_framing) {
        // The client drops the stream here: end it (an expiry not yet told
        // is told by the next stream, which names the forgotten id).
        s.envelopes = i + 1;
        s.which = 3;
      }
      return c;
    }
    if (i < s.envelopes) {
      c.after = 10ms;
      const auto notifications = take_events(s.subs, &s.sent);
      c.data = notifications.empty() ? wire::keep_alive() : wire::events(notifications);
      return c;
    }
    if (i > s.envelopes) return std::nullopt;
    switch (s.which) {
      case 0: {  // half an envelope, then RST
        const auto full = wire::events(take_events(s.subs, &s.sent));
        c.data = full.substr(0, full.size() / 2);
        // An RST may discard what the client had not read yet (a paused or
        // slow reader), so the server cannot know what arrived: everything
        // this stream carried goes back to the queue and the fetcher's dedupe
        // window drops what was delivered already.
        for (auto it = s.sent.rbegin(); it != s.sent.rend(); ++it) {
          auto sub = subs_.find(it->first);
          if (sub != subs_.end()) sub->second.queue.push_front(it->second);
          else drop_locked(it->second, "reset, subscription gone");
        }
        s.sent.clear();
        return c;
      }
      case 1:  // silence: hold with nothing more (the heartbeat timeout ends it)
        return std::nullopt;
      case 2:
        c.data = wire::closed();
        return c;
      case 4:
        c.data = wire::error_message("ErrorSubscriptionNotFound", {s.lost_sub});
        return c;
      default:
        return std::nullopt;
    }
  }

  void drop_locked(std::size_t mail, const char* why) {
    if (finished_) return;  // the final stop's Unsubscribe: every mail had its outcome
    ++dropped_;
    dropped_how_[mail] = why;
  }

  soak_options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread generator_;
  bool stopping_ = false;
  bool generating_ = false;
  bool finished_ = false;
  std::mt19937_64 rng_;        // mail creation, in creation order
  std::mt19937_64 fetch_rng_;  // GetItem faults, apart so fetch timing does not shift the mails
  std::vector<mail> mails_;
  std::vector<std::vector<std::size_t>> store_;  // every mail, per mailbox
  std::map<std::string, subscription> subs_;     // live subscriptions
  std::vector<std::string> sub_of_;              // the live subscription of each mailbox ("" none)
  std::size_t subscriptions_ = 0;
  std::map<std::size_t, std::size_t> streams_of_;  // streams per connection (lowest mailbox)
  std::size_t dropped_ = 0;  // mails no stream carried (no subscription, expired, broken envelope)
  std::map<std::size_t, std::string> dropped_how_;  // why, for each (the last cause)
  std::set<std::string> deleted_;
  std::map<std::string, std::size_t> faults_;
};

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// What the application keeps across restarts: every outcome it was handed.
struct outcomes {
  std::mutex mutex;
  std::map<std::string, std::size_t> fetched, gone, failed;
  std::uint64_t count = 0;

  // Returns the number of outcomes so far.
  std::uint64_t record(ews::item_outcome&& out) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto& id = out.source.event.item.id;
    switch (out.kind) {
      case ews::outcome_kind::fetched: ++fetched[id]; break;
      case ews::outcome_kind::gone: ++gone[id]; break;
      case ews::outcome_kind::failed:
        ++failed[id];
        std::fprintf(stderr, "failed %s: %s\n", id.c_str(), out.error ? out.error->code_name().c_str() : "?");
        break;
      case ews::outcome_kind::skipped: break;
    }
    return ++count;
  }
  std::size_t resolved() {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t n = fetched.size();
    for (const auto& g : gone) n += fetched.count(g.first) ? 0 : 1;
    return n;
  }
};

// Counts summed over the service's lives.
struct totals {
  std::uint64_t reconnects = 0, gaps = 0, streams = 0, errors = 0, reconciled = 0, reconcile_failures = 0,
                restart_gaps = 0, abandoned = 0, paused = 0;
};

// One life of the service, wired as samples/ews_listen.cpp is: the listener
// with its dedupe window restored from the store; gaps (the listener's, and
// after a restart one per folder from its saved last-event time) reconciled
// on a thread of ours through the listener's fetcher; the dedupe window and
// the last-event time saved every second and at stop.
ews::soap::http_transport_options transport_options(const soak_options& opt) {
  ews::soap::http_transport_options t;
  t.allow_insecure_http = true;  // the replay server is plain http on 127.0.0.1
  if (opt.asio) {
    t.engine = ews::soap::http_engine::asio;
    t.threads = 2;
  }
  return t;
}

class service {
 public:
  service(const soak_options& opt, const std::string& url, std::shared_ptr<ews::checkpoint_store> store,
          outcomes& out, totals& sum)
      : opt_(opt), store_(std::move(store)), out_(out), sum_(sum) {
    ews::listener_options o;
    o.url = url;
    for (std::size_t k = 0; k < opt.mailboxes; ++k) o.mailboxes.push_back(mailbox_address(k));
    o.heartbeat_timeout = 2s;
    o.max_subscriptions_per_connection = opt.per_connection;
    o.backoff.initial = 100ms;
    o.backoff.max = 2s;
    o.backoff.seed = opt.seed;
    if (opt.stalls) o.fetch.queue_limit = 100;
    o.transport = transport_options(opt);
    auto keys = store_->load_dedupe_keys(ews::checkpoint_store::listener_window);
    if (!keys) throw ews::error(keys.error());
    o.dedupe_keys = std::move(*keys);
    listener_ = std::make_unique<ews::listener>(std::move(o));
    listener_->on_item([this](ews::item_outcome&& item) {
      if (out_.record(std::move(item)) % 500 == 0 && opt_.stalls) std::this_thread::sleep_for(3s);
      std::lock_guard<std::mutex> lock(mutex_);
      dedupe_dirty_ = true;
    });
    listener_->on_gap([this](const ews::gap& g) { on_gap(g); });
    listener_->on_error([this](const ews::error_info&) { ++errors_; });

    ews::soap::service_options so;
    so.url = url;
    so.http = ews::soap::make_http_transport(transport_options(opt));
    ews::reconcile_options ro;
    ro.service = std::make_shared<ews::soap::service_client>(std::move(so));
    ro.store = store_;
    ro.events = {ews::event_type::new_mail};
    ro.slack = opt.slack;
    // Before start() there is no fetcher: the poller offers again.
    ro.sink = [this](ews::mailbox_event&& e) {
      auto* f = listener_->fetcher();
      return f && f->offer(std::move(e));
    };
    // Bounded by shutdown: a stop must not wait for a slow fetch to finish.
    ro.drain = [this] {
      auto* f = listener_->fetcher();
      for (int i = 0; f && i < 300 && !stop_ctx_.done(); ++i)
        if (f->drain(200ms)) return true;
      return false;
    };
    reconciler_ = std::make_unique<ews::reconciler>(std::move(ro));
  }

  ~service() { stop(); }

  void start(bool restarted) {
    reconcile_thread_ = std::thread([this] { reconcile_loop(); });
    if (restarted) report_restart_gaps();
    listener_->start();
  }

  // Called every 50 ms by the soak's loop.
  void tick() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_save_ < 1s) return;
    last_save_ = now;
    save_checkpoint(false);
  }

  bool failed() const { return listener_->failed(); }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    // The reconcile pass first (it feeds the listener's fetcher), then the
    // listener (it unsubscribes), then the dedupe window while the fetcher
    // still exists.
    stop_ctx_.cancel();
    if (reconcile_thread_.joinable()) reconcile_thread_.join();
    listener_->stop();
    save_checkpoint(true);
    const auto c = listener_->counters();
    sum_.reconnects += c.streaming.total_reconnects();
    sum_.streams += c.streaming.connections;
    sum_.abandoned += c.fetch ? c.fetch->abandoned : 0;
    sum_.paused += c.fetch ? c.fetch->refused : 0;
    sum_.gaps += gaps_;
    sum_.errors += errors_;
    sum_.reconciled += reconciled_;
    sum_.reconcile_failures += reconcile_failures_;
  }

 private:
  void on_gap(const ews::gap& g) {
    ++gaps_;
    if (g.reason == "Restart") ++sum_.restart_gaps;
    std::lock_guard<std::mutex> lock(mutex_);
    gaps_queue_.push_back(g);
    changed_.notify_all();
  }

  // After a restart: a gap from each folder's last saved time to now.
  void report_restart_gaps() {
    auto times = store_->list_last_event_times();
    if (!times) throw ews::error(times.error());
    for (const auto& ft : *times) on_gap(ews::gap{ft.folder.mailbox, ft.folder.folder_id, ft.last_event, "Restart"});
  }

  // A gap stays in gaps_queue_ or reconciling_ until its pass succeeds: the
  // checkpoint's time must not pass its `since` before then (see
  // save_checkpoint). A failed pass is tried again after a pause.
  void reconcile_loop() {
    for (;;) {
      ews::gap g;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !gaps_queue_.empty(); });
        if (stopping_) return;
        g = gaps_queue_.front();
        reconciling_ = std::move(gaps_queue_.front());
        gaps_queue_.pop_front();
      }
      // A restart gap is reconciled once every subscription exists again:
      // a pass before that would miss what arrives between its
      // SyncFolderItems and the Subscribe (no stream carries it either).
      if (g.reason == "Restart" && !wait_until_subscribed()) return;
      try {
        const auto r = reconciler_->reconcile(g, stop_ctx_);
        ++reconciled_;
        if (std::getenv("SOAK_TRACE"))
          std::fprintf(stderr, "reconciled %s since %s (%s): delivered %zu, duplicates %zu, filtered %zu, state %s\n",
                       g.mailbox.c_str(), ews::to_iso8601(g.since).c_str(), g.reason.c_str(), r.delivered,
                       r.duplicates, r.filtered, r.sync_state.c_str());
        std::lock_guard<std::mutex> lock(mutex_);
        reconciling_.reset();
      } catch (const ews::error& e) {
        // Cut short by our own stop (a cancelled drain is a timeout to the
        // poller): the gap stays open, the restart gap covers it.
        if (e.info().kind() == ews::errc::cancelled || stop_ctx_.done()) return;
        ++reconcile_failures_;
        std::fprintf(stderr, "reconcile failed: %s\n", e.what());
        std::unique_lock<std::mutex> lock(mutex_);
        gaps_queue_.push_back(std::move(*reconciling_));
        reconciling_.reset();
        if (changed_.wait_for(lock, 1s, [&] { return stopping_; })) return;
      }
    }
  }

  // Until delivered_through() has a value: every subscription created. False
  // when stopping first.
  bool wait_until_subscribed() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const bool up = listener_->delivered_through().has_value();
      lock.lock();
      if (up) return true;
      changed_.wait_for(lock, 50ms, [&] { return stopping_; });
    }
    return false;
  }

  // The oldest `since` of the gaps not reconciled yet.
  std::optional<std::chrono::system_clock::time_point> oldest_open_gap() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<std::chrono::system_clock::time_point> oldest;
    if (reconciling_) oldest = reconciling_->since;
    for (const auto& g : gaps_queue_)
      if (!oldest || g.since < *oldest) oldest = g.since;
    return oldest;
  }

  // Records how far delivery is complete, as ews-listen does: the listener's
  // delivered_through(), held back by gaps not reconciled yet (also after
  // stop(): it covers what stop() dropped). With --save-now 1, the old
  // wiring: the current time while streaming, nothing at stop.
  void save_checkpoint(bool final) {
    bool dirty = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(dirty, dedupe_dirty_);
    }
    auto* f = listener_->fetcher();
    if (dirty && f) {
      auto s = store_->save_dedupe_keys(ews::checkpoint_store::listener_window, f->dedupe_snapshot());
      if (!s) std::fprintf(stderr, "save_dedupe_keys: %s\n", s.error().message.c_str());
    }
    std::optional<std::chrono::system_clock::time_point> through;
    if (opt_.save_now) {
      if (!final && listener_->counters().streaming.connections > 0) through = std::chrono::system_clock::now();
    } else {
      through = listener_->delivered_through();
      if (auto gap = oldest_open_gap(); through && gap && *gap < *through) through = gap;
    }
    if (!through) return;  // not every subscription is up yet: keep the old time
    for (std::size_t k = 0; k < opt_.mailboxes; ++k) {
      auto s = store_->save_last_event_time({mailbox_address(k), "inbox"}, *through);
      if (!s) std::fprintf(stderr, "save_last_event_time: %s\n", s.error().message.c_str());
    }
  }

  const soak_options& opt_;
  std::shared_ptr<ews::checkpoint_store> store_;
  outcomes& out_;
  totals& sum_;
  std::unique_ptr<ews::listener> listener_;
  std::unique_ptr<ews::reconciler> reconciler_;
  ews::context stop_ctx_;
  std::thread reconcile_thread_;
  std::chrono::steady_clock::time_point last_save_ = std::chrono::steady_clock::now();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<ews::gap> gaps_queue_;             // waiting for the reconcile thread
  std::optional<ews::gap> reconciling_;          // being reconciled (or cut short by stop)
  bool stopping_ = false;
  bool stopped_ = false;
  bool dedupe_dirty_ = false;
  std::atomic<std::uint64_t> gaps_{0}, errors_{0}, reconciled_{0}, reconcile_failures_{0};
};

bool parse_args(int argc, char** argv, soak_options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const unsigned long long v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--mails") o.mails = v;
    else if (a == "--mailboxes") o.mailboxes = v;
    else if (a == "--seed") o.seed = v;
    else if (a == "--limit") o.limit = std::chrono::seconds(v);
    else if (a == "--expiry") o.expiry = v != 0;
    else if (a == "--per-connection") o.per_connection = v;
    else if (a == "--rate") o.rate = v;
    else if (a == "--malformed") o.malformed = v != 0;
    else if (a == "--restarts") o.restarts = v;
    else if (a == "--slack") o.slack = std::chrono::seconds(v);
    else if (a == "--save-now") o.save_now = v != 0;
    else if (a == "--stalls") o.stalls = v != 0;
    else if (a == "--subscribe-ms") o.subscribe_ms = v;
    else if (a == "--asio") o.asio = v != 0;
    else return false;
  }
  return argc % 2 == 1 && o.mails > 0 && o.mailboxes > 0 && o.mailboxes <= 100000 && o.per_connection >= 1 &&
         o.per_connection <= 200 && o.rate >= 1;
}

// A fresh directory for the checkpoint store, removed at exit.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "ews-soak-XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path = t;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  soak_options opt;
  if (!parse_args(argc, argv, opt)) {
    std::fprintf(stderr,
                 "usage: ews-soak [--mails M] [--mailboxes K] [--seed S] [--limit SECONDS] [--expiry 0|1]\n"
                 "                [--per-connection 1..200] [--rate MAILS_PER_S] [--malformed 0|1]\n"
                 "                [--restarts R] [--slack SECONDS] [--save-now 0|1] [--stalls 0|1]\n"
                 "                [--subscribe-ms MS] [--asio 0|1]\n");
    return 2;
  }
  const auto began = std::chrono::steady_clock::now();

  mail_server mails(opt);
  rt::replay_server server;
  server.on("Subscribe", [&](const rt::received_request& r) { return mails.subscribe(r); });
  server.on("GetStreamingEvents", [&](const rt::received_request& r) { return mails.get_streaming_events(r); });
  server.on("GetItem", [&](const rt::received_request& r) { return mails.get_item(r); });
  server.on("SyncFolderItems", [&](const rt::received_request& r) { return mails.sync_folder_items(r); });
  server.on("Unsubscribe", [&](const rt::received_request& r) { return mails.unsubscribe(r); });
  mails.start();

  // With restarts the checkpoints must outlive a life of the service: files
  // in a temporary directory. The store's lock is per object, so each life
  // opens its own after the previous one closed it.
  std::unique_ptr<temp_dir> dir;
  if (opt.restarts > 0) dir = std::make_unique<temp_dir>();
  auto open_store = [&] {
    return dir ? ews::make_file_checkpoint_store(dir->path.string()) : ews::make_memory_checkpoint_store();
  };

  outcomes out;
  totals sum;
  auto svc = std::make_unique<service>(opt, server.url(), open_store(), out, sum);
  svc->start(false);

  // Done when every mail has an outcome (fetched or gone), or at the limit.
  // Restart j (1..R) once j/(R+1) of the mails were created.
  const auto deadline = began + opt.limit;
  std::size_t restarts = 0;
  for (;;) {
    const auto created = mails.created();
    if (created == opt.mails && out.resolved() >= opt.mails) break;
    if (std::chrono::steady_clock::now() > deadline || svc->failed()) break;
    if (restarts < opt.restarts && created >= opt.mails * (restarts + 1) / (opt.restarts + 1)) {
      ++restarts;
      std::fprintf(stderr, "restart %zu: stopping at %s with %zu mails created\n", restarts,
                   ews::to_iso8601(std::chrono::system_clock::now()).c_str(), created);
      svc->stop();
      svc.reset();  // closes the store (and its lock) before the next life opens it
      std::this_thread::sleep_for(500ms);  // down: mails created now reach no stream
      svc = std::make_unique<service>(opt, server.url(), open_store(), out, sum);
      svc->start(true);
    }
    svc->tick();
    std::this_thread::sleep_for(50ms);
  }
  mails.finish();
  svc->stop();
  svc.reset();
  mails.stop();
  server.stop();
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);

  const auto deleted = mails.deleted();
  std::size_t delivered = 0, gone_n = 0, lost = 0, duplicates = 0, gone_undeleted = 0;
  // Every created mail: fetched once (not deleted) or gone once (deleted).
  std::set<std::string> all;
  for (const auto& f : out.fetched) all.insert(f.first);
  for (const auto& g : out.gone) all.insert(g.first);
  for (const auto& id : all) {
    const auto f = out.fetched.count(id) ? out.fetched[id] : 0;
    const auto g = out.gone.count(id) ? out.gone[id] : 0;
    if (f + g > 1) duplicates += f + g - 1;
    if (f) ++delivered;
    else ++gone_n;
  }
  // A mail without an outcome, or reported gone though it was never deleted, is lost.
  lost = mails.created() - all.size();
  for (const auto& g : out.gone)
    if (!deleted.count(g.first) && !out.fetched.count(g.first)) ++gone_undeleted;
  lost += gone_undeleted;
  lost += opt.mails - mails.created();

  for (const auto& m : mails.unresolved(all, std::getenv("SOAK_LOST") ? 100000 : 5)) std::fprintf(stderr, "lost: %s\n", m.c_str());
  std::set<std::string> resolved_ids;
  for (const auto& id : all)
    if (out.fetched.count(id) || deleted.count(id)) resolved_ids.insert(id);
  std::fprintf(stderr, "no stream carried:");
  for (const auto& d : mails.dropped_by_cause(resolved_ids))
    std::fprintf(stderr, " %s %zu (resolved %zu),", d.first.c_str(), d.second.first, d.second.second);
  std::fprintf(stderr, "\nfaults:");
  for (const auto& f : mails.faults()) std::fprintf(stderr, " %s %zu,", f.first.c_str(), f.second);
  std::fprintf(stderr, "\nrestarts %zu (restart gaps %llu, abandoned by stop %llu), reconciled %llu (failed %llu) for %zu mails no stream carried,",
               restarts, static_cast<unsigned long long>(sum.restart_gaps),
               static_cast<unsigned long long>(sum.abandoned), static_cast<unsigned long long>(sum.reconciled),
               static_cast<unsigned long long>(sum.reconcile_failures), mails.dropped());
  std::fprintf(stderr, " streams paused by a full fetcher %llu,", static_cast<unsigned long long>(sum.paused));
  std::fprintf(stderr, " failed outcomes %zu, gone though not deleted %zu, errors reported %llu, streams %llu,"
               " generated %016llx, wall %.1f s\n",
               out.failed.size(), gone_undeleted, static_cast<unsigned long long>(sum.errors),
               static_cast<unsigned long long>(sum.streams), static_cast<unsigned long long>(mails.digest()),
               wall.count() / 1000.0);
  std::printf("mails %zu, delivered %zu, gone %zu, lost %zu, duplicates %zu, reconnects %llu, gaps %llu, peak RSS %ld MB\n",
              opt.mails, delivered, gone_n, lost, duplicates, static_cast<unsigned long long>(sum.reconnects),
              static_cast<unsigned long long>(sum.gaps), peak_rss_kb() / 1024);
  return lost == 0 && duplicates == 0 ? 0 : 1;
}
