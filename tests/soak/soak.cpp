// ews-soak: the listener (on_item: stream -> GetItem -> outcome) against the
// replay server in a generating mode, with faults injected at a fixed seed.
//
//   ews-soak [--mails M] [--mailboxes K] [--seed S] [--limit SECONDS] [--expiry 0|1]
//
// The server creates M mails across K mailboxes and streams them as NewMail
// notifications; GetItem is answered from the generated mailboxes. Faults,
// drawn per connection from the seed: a reset mid-envelope, a silence beyond
// the heartbeat timeout, ConnectionStatus Closed with the socket left open,
// a clean end, 503 with Retry-After 1, ErrorServerBusy with
// BackOffMilliseconds, and ErrorItemNotFound for mails deleted before their
// fetch. Like gromox, the server keeps what it had queued for a subscription
// and sends it on the next stream; the events of an envelope torn by a reset
// are queued again (the client never saw them whole). With --expiry 1 (the
// default) the server also forgets a subscription halfway through a stream,
// with what it had queued, and ends the stream with ErrorSubscriptionNotFound:
// the listener reports a gap, re-subscribes, and a reconciler (SyncFolderItems
// from the generated mailbox, through the listener's fetcher and its dedupe
// window) must bring those mails back.
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

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
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
};

std::string mailbox_address(std::size_t k) { return "user" + std::to_string(k) + "@soak.test"; }

// The generated mail server: mailboxes, their pending notifications, the
// mails deleted before they were fetched. Called from the replay server's
// connection threads, hence one mutex.
class mail_server {
 public:
  explicit mail_server(const soak_options& o) : options_(o), rng_(o.seed), fetch_rng_(o.seed + 1) {}

  // Subscribe: one subscription per mailbox, "SUB-<k>".
  rt::response subscribe(const rt::received_request& r) {
    static const std::regex smtp("SmtpAddress>([^<]+)<");
    std::smatch m;
    std::string id = "SUB-0";
    if (std::regex_search(r.body, m, smtp)) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t k = 0; k < options_.mailboxes; ++k)
        if (m[1] == mailbox_address(k)) {
          id = "SUB-" + std::to_string(k);
          expired_.erase(k);
        }
    }
    return rt::soap_response(wire::subscribe_response(id));
  }

  rt::response get_streaming_events(const rt::received_request& r) {
    std::vector<std::size_t> subs;
    for (const auto& id : wire::subscription_ids(r.body))
      if (id.rfind("SUB-", 0) == 0) subs.push_back(std::stoul(id.substr(4)));

    std::lock_guard<std::mutex> lock(mutex_);
    ++streams_;
    std::mt19937_64 rng(options_.seed * 1000003u + streams_);
    const auto roll = std::uniform_int_distribution<int>(0, 99)(rng);
    if (roll < 8) {
      ++faults_["503"];
      return rt::http_error(503, 1s);
    }
    if (roll < 16) {
      ++faults_["ErrorServerBusy"];
      return rt::soap_response(wire::server_busy_fault(200), 500);
    }
    // The fault that ends this stream after `envelopes` chunks.
    const int which = std::uniform_int_distribution<int>(0, options_.expiry && !subs.empty() ? 4 : 3)(rng);
    // For an expiry: the subscription the server forgets halfway through.
    const std::size_t lost_sub = subs.empty() ? 0 : subs[std::uniform_int_distribution<std::size_t>(0, subs.size() - 1)(rng)];
    const std::size_t envelopes = std::uniform_int_distribution<std::size_t>(5, 40)(rng);
    rt::response resp;
    resp.status = 200;
    resp.hold_for = 10s;
    const char* names[] = {"reset mid-envelope", "silence", "Closed", "end", "expired"};
    ++faults_[names[which]];
    resp.end = which == 0 ? rt::ending::reset : which >= 3 ? rt::ending::final : rt::ending::hold;
    auto sent = std::make_shared<std::vector<std::pair<std::size_t, std::string>>>();
    resp.more_chunks = [this, subs, envelopes, which, lost_sub, sent](std::size_t i) -> std::optional<rt::chunk> {
      return next_chunk(subs, envelopes, which, lost_sub, *sent, i);
    };
    return resp;
  }

  rt::response get_item(const rt::received_request& r) {
    static const std::regex item_id("<t:ItemId Id=\"([^\"]+)\"( ChangeKey=\"([^\"]*)\")?");
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
    std::string messages;
    for (std::sregex_iterator it(r.body.begin(), r.body.end(), item_id), end; it != end; ++it) {
      const std::string id = (*it)[1];
      bool deleted;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        deleted = deleted_.count(id) != 0;
      }
      if (deleted) {
        messages +=
            "<m:GetItemResponseMessage ResponseClass=\"Error\"><m:MessageText>The specified object was not "
            "found in the store.</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"
            "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:GetItemResponseMessage>";
      } else {
        messages += "<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
                    "<m:Items><t:Message><t:ItemId Id=\"" + id + "\" ChangeKey=\"" + std::string((*it)[3]) +
                    "\"/><t:Subject>soak " + id + "</t:Subject><t:Size>1234</t:Size></t:Message></m:Items>"
                    "</m:GetItemResponseMessage>";
      }
    }
    return rt::soap_response(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
        "<m:GetItemResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
        "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>" +
        messages + "</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>");
  }

  // SyncFolderItems over a mailbox's inbox: the state is the count of mails
  // already reported; every mail is a Create (a deleted one then fetches as
  // gone, as when it is deleted between the sync and the fetch).
  rt::response sync_folder_items(const rt::received_request& r) {
    static const std::regex smtp("SmtpAddress>([^<]+)<");
    static const std::regex state("SyncState>([0-9]+)<");
    static const std::regex max_changes("MaxChangesReturned>([0-9]+)<");
    std::smatch m;
    std::size_t k = 0, from = 0, max = 512;
    if (std::regex_search(r.body, m, smtp))
      for (std::size_t i = 0; i < options_.mailboxes; ++i)
        if (m[1] == mailbox_address(i)) k = i;
    if (std::regex_search(r.body, m, state)) from = std::stoul(m[1]);
    if (std::regex_search(r.body, m, max_changes)) max = std::max<std::size_t>(1, std::stoul(m[1]));
    std::string changes;
    std::size_t to;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++faults_["SyncFolderItems"];
      const auto& items = store_[k];
      from = std::min(from, items.size());
      to = std::min(items.size(), from + max);
      const auto now = ews::to_iso8601(std::chrono::system_clock::now());
      for (std::size_t i = from; i < to; ++i)
        changes += "<t:Create><t:Message><t:ItemId Id=\"" + items[i] +
                   "\" ChangeKey=\"CK1\"/><t:ParentFolderId Id=\"INBOX-ID\"/><t:ItemClass>IPM.Note</t:ItemClass>"
                   "<t:Subject>soak</t:Subject><t:DateTimeReceived>" + now +
                   "</t:DateTimeReceived><t:Size>1234</t:Size></t:Message></t:Create>";
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
  }

  std::size_t created() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return created_;
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

 private:
  // Creates up to 3 mails in random mailboxes (1 in 50 deleted at once, so
  // its fetch finds nothing).
  void create_mails() {
    const auto n = std::uniform_int_distribution<std::size_t>(0, 3)(rng_);
    for (std::size_t i = 0; i < n && created_ < options_.mails; ++i) {
      const auto k = std::uniform_int_distribution<std::size_t>(0, options_.mailboxes - 1)(rng_);
      const std::string id = "MAIL-" + std::to_string(k) + "-" + std::to_string(created_++);
      store_[k].push_back(id);
      if (!expired_.count(k)) pending_[k].push_back(id);
      else ++dropped_;
      if (std::uniform_int_distribution<int>(0, 49)(rng_) == 0) deleted_.insert(id);
    }
  }

  // Takes up to 50 pending events per subscription as notifications,
  // appending them to `taken`.
  std::string take_events(const std::vector<std::size_t>& subs, std::vector<std::pair<std::size_t, std::string>>& taken) {
    std::string notifications;
    for (auto k : subs) {
      auto& q = pending_[k];
      std::string events;
      for (std::size_t n = 0; !q.empty() && n < 50; ++n) {
        events += wire::new_mail_event(q.front(), "CK1");
        taken.emplace_back(k, q.front());
        q.pop_front();
      }
      if (!events.empty()) notifications += wire::notification("SUB-" + std::to_string(k), events);
    }
    return notifications;
  }

  std::optional<rt::chunk> next_chunk(const std::vector<std::size_t>& subs, std::size_t envelopes, int which,
                                      std::size_t lost_sub, std::vector<std::pair<std::size_t, std::string>>& sent,
                                      std::size_t i) {
    std::lock_guard<std::mutex> lock(mutex_);
    rt::chunk c;
    if (which == 4 && i == envelopes / 2) {
      // The server forgets the subscription and what it had queued for it;
      // mails keep arriving in the mailbox but no longer on any stream.
      expired_.insert(lost_sub);
      dropped_ += pending_[lost_sub].size();
      pending_[lost_sub].clear();
    }
    if (i < envelopes) {
      c.after = 10ms;
      create_mails();
      const auto notifications = take_events(subs, sent);
      c.data = notifications.empty() ? wire::keep_alive() : wire::events(notifications);
      return c;
    }
    if (i > envelopes) return std::nullopt;
    switch (which) {
      case 0: {  // half an envelope, then RST
        const auto full = wire::events(take_events(subs, sent));
        c.data = full.substr(0, full.size() / 2);
        // An RST may discard what the client had not read yet (a paused or
        // slow reader), so the server cannot know what arrived: everything
        // this stream carried goes back to the queue and the fetcher's dedupe
        // window drops what was delivered already.
        for (auto it = sent.rbegin(); it != sent.rend(); ++it) pending_[it->first].push_front(it->second);
        return c;
      }
      case 1:  // silence: hold with nothing more (the heartbeat timeout ends it)
        return std::nullopt;
      case 2:
        c.data = wire::closed();
        return c;
      case 4:
        c.data = wire::error_message("ErrorSubscriptionNotFound", {"SUB-" + std::to_string(lost_sub)});
        return c;
      default:
        return std::nullopt;
    }
  }

  soak_options options_;
  mutable std::mutex mutex_;
  std::mt19937_64 rng_;        // mail creation, in stream order
  std::mt19937_64 fetch_rng_;  // GetItem faults, apart so fetch timing does not shift the mails
  std::size_t created_ = 0;
  std::size_t streams_ = 0;
  std::map<std::size_t, std::deque<std::string>> pending_;
  std::map<std::size_t, std::vector<std::string>> store_;  // every mail, per mailbox
  std::set<std::size_t> expired_;
  std::size_t dropped_ = 0;  // mails no stream will carry (expired subscriptions)
  std::set<std::string> deleted_;
  std::map<std::string, std::size_t> faults_;
};

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

bool parse_args(int argc, char** argv, soak_options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const unsigned long long v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--mails") o.mails = v;
    else if (a == "--mailboxes") o.mailboxes = v;
    else if (a == "--seed") o.seed = v;
    else if (a == "--limit") o.limit = std::chrono::seconds(v);
    else if (a == "--expiry") o.expiry = v != 0;
    else return false;
  }
  return argc % 2 == 1 && o.mails > 0 && o.mailboxes > 0 && o.mailboxes <= 200;
}

}  // namespace

int main(int argc, char** argv) {
  soak_options opt;
  if (!parse_args(argc, argv, opt)) {
    std::fprintf(stderr, "usage: ews-soak [--mails M] [--mailboxes K (1..200)] [--seed S] [--limit SECONDS] [--expiry 0|1]\n");
    return 2;
  }

  mail_server mails(opt);
  rt::replay_server server;
  server.on("Subscribe", [&](const rt::received_request& r) { return mails.subscribe(r); });
  server.on("GetStreamingEvents", [&](const rt::received_request& r) { return mails.get_streaming_events(r); });
  server.on("GetItem", [&](const rt::received_request& r) { return mails.get_item(r); });
  server.on("SyncFolderItems", [&](const rt::received_request& r) { return mails.sync_folder_items(r); });
  server.on("Unsubscribe", [](const rt::received_request&) { return rt::soap_response(wire::unsubscribe_response()); });

  ews::listener_options o;
  o.url = server.url();
  for (std::size_t k = 0; k < opt.mailboxes; ++k) o.mailboxes.push_back(mailbox_address(k));
  o.heartbeat_timeout = 2s;
  o.backoff.initial = 100ms;
  o.backoff.max = 2s;
  o.backoff.seed = opt.seed;
  ews::listener l(o);

  std::mutex mutex;
  std::map<std::string, std::size_t> fetched, gone, failed;
  std::atomic<std::uint64_t> gaps{0}, errors{0};
  l.on_item([&](ews::item_outcome&& out) {
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
  });
  // Gaps are reconciled on a thread of ours (never the listener's): one
  // SyncFolderItems pass whose findings go through the listener's fetcher.
  std::mutex gap_mutex;
  std::condition_variable gap_cv;
  std::deque<ews::gap> pending_gaps;
  bool stopping = false;
  std::atomic<std::uint64_t> reconciled{0}, reconcile_failures{0};
  l.on_gap([&](const ews::gap& g) {
    ++gaps;
    std::lock_guard<std::mutex> lock(gap_mutex);
    pending_gaps.push_back(g);
    gap_cv.notify_one();
  });
  l.on_error([&](const ews::error_info&) { ++errors; });
  l.start();

  ews::soap::http_transport_options to;
  to.allow_insecure_http = true;  // the replay server is plain http on 127.0.0.1
  ews::soap::service_options so;
  so.url = server.url();
  so.http = ews::soap::make_http_transport(to);
  ews::reconcile_options ro;
  ro.service = std::make_shared<ews::soap::service_client>(std::move(so));
  ro.store = ews::make_memory_checkpoint_store();
  ro.events = {ews::event_type::new_mail};
  ro.sink = [&](ews::mailbox_event&& e) { return l.fetcher()->offer(std::move(e)); };
  ro.drain = [&] { return l.fetcher()->drain(std::chrono::seconds(30)); };
  ews::reconciler reconciler(std::move(ro));
  std::thread reconcile_thread([&] {
    std::unique_lock<std::mutex> lock(gap_mutex);
    for (;;) {
      gap_cv.wait(lock, [&] { return stopping || !pending_gaps.empty(); });
      if (stopping) return;
      auto g = pending_gaps.front();
      pending_gaps.pop_front();
      lock.unlock();
      try {
        reconciler.reconcile(g, ews::context{});
        ++reconciled;
      } catch (const std::exception& e) {
        ++reconcile_failures;
        std::fprintf(stderr, "reconcile failed: %s\n", e.what());
      }
      lock.lock();
    }
  });

  // Done when every mail has an outcome (fetched or gone), or at the limit.
  const auto deadline = std::chrono::steady_clock::now() + opt.limit;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      std::size_t resolved = fetched.size();
      for (const auto& g : gone) resolved += fetched.count(g.first) ? 0 : 1;
      if (mails.created() == opt.mails && resolved >= opt.mails) break;
    }
    if (std::chrono::steady_clock::now() > deadline || l.failed()) break;
    std::this_thread::sleep_for(50ms);
  }
  const auto counters = l.counters();
  {
    std::lock_guard<std::mutex> lock(gap_mutex);
    stopping = true;
    gap_cv.notify_one();
  }
  reconcile_thread.join();
  l.stop();
  server.stop();

  const auto deleted = mails.deleted();
  std::size_t delivered = 0, gone_n = 0, lost = 0, duplicates = 0;
  // Every created mail: fetched once (not deleted) or gone once (deleted).
  std::set<std::string> all;
  for (const auto& f : fetched) all.insert(f.first);
  for (const auto& g : gone) all.insert(g.first);
  for (const auto& id : all) {
    const auto f = fetched.count(id) ? fetched[id] : 0;
    const auto g = gone.count(id) ? gone[id] : 0;
    if (f + g > 1) duplicates += f + g - 1;
    if (f) ++delivered;
    else ++gone_n;
  }
  // A mail without an outcome, or reported gone though it was never deleted, is lost.
  lost = mails.created() - all.size();
  for (const auto& g : gone)
    if (!deleted.count(g.first) && !fetched.count(g.first)) ++lost;
  lost += opt.mails - mails.created();

  std::fprintf(stderr, "faults:");
  for (const auto& f : mails.faults()) std::fprintf(stderr, " %s %zu,", f.first.c_str(), f.second);
  std::fprintf(stderr, " reconciled %llu (failed %llu) for %zu mails no stream carried,",
               static_cast<unsigned long long>(reconciled.load()),
               static_cast<unsigned long long>(reconcile_failures.load()), mails.dropped());
  std::fprintf(stderr, " failed outcomes %zu, errors reported %llu, streams %llu\n", failed.size(),
               static_cast<unsigned long long>(errors.load()),
               static_cast<unsigned long long>(counters.streaming.connections));
  std::printf("mails %zu, delivered %zu, gone %zu, lost %zu, duplicates %zu, reconnects %llu, gaps %llu, peak RSS %ld MB\n",
              opt.mails, delivered, gone_n, lost, duplicates,
              static_cast<unsigned long long>(counters.streaming.total_reconnects()),
              static_cast<unsigned long long>(gaps.load()), peak_rss_kb() / 1024);
  return lost == 0 && duplicates == 0 ? 0 : 1;
}
