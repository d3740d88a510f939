// ews-listen: watches mailboxes through EWS streaming notifications and
// prints every new item as one JSON line on stdout (item, gone, gap, error);
// status goes to stderr. Without --url it replays a recorded mailbox session
// from a built-in server (the demo). The contract is issue 7; see
// README.md.

#include "cli_options.hpp"
#include "demo_scenario.hpp"
#include "event_lines.hpp"
#include "program_support.hpp"
#include "stop_signal.hpp"

#include <ews/checkpoint_store.hpp>
#include <ews/item_fetcher.hpp>
#include <ews/listener.hpp>
#include <ews/reconciler.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/soap/transport.hpp>
#include <ews/testing/replay_server.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace ews::samples;
using namespace std::chrono_literals;
using ews::error_info;
using ews::errc;

// Between attempts at a gap whose reconcile failed (the server is down, say).
constexpr auto reconcile_retry_pause = 5s;

// The built-in server of demo mode and what "played out" means for it: every
// stream's last chunk written, every GetItem answered and its outcome printed.
struct demo_session {
  std::size_t streams = 0;
  std::size_t fetches = 0;
  ews::testing::replay_server server;  // after the counts: it is built from what they counted

  explicit demo_session(ews::testing::scenario s) : server(count(s)) {}

  ews::testing::scenario count(ews::testing::scenario& s) {
    for (const auto& e : s.exchanges) {
      if (e.expect.operation == "GetStreamingEvents") ++streams;
      if (e.expect.operation == "GetItem") ++fetches;
    }
    return std::move(s);
  }

  bool played_out(std::uint64_t outcomes) const {
    return server.wait_for_responses("GetStreamingEvents", streams, 0ms) &&
           server.wait_for_responses("GetItem", fetches, 0ms) && outcomes >= fetches;
  }
};

bool subscribe_refusal(const error_info& e) {
  const std::string& c = e.response_code_text;
  return c == "ErrorNonExistentMailbox" || c == "ErrorMailboxNotFound" || c == "ErrorImpersonateUserDenied" ||
         c == "ErrorImpersonationDenied" || c == "ErrorAccessDenied";
}

class listen_session {
 public:
  listen_session(listen_options opts, status_output& status, ews::context stop)
      : opts_(std::move(opts)), status_(status), stop_(std::move(stop)) {}

  ~listen_session() { shut_down(); }

  /// Runs until --count, --duration, a signal, the demo's end or a fatal
  /// error. Returns the exit status.
  int run(demo_session* demo) {
    demo_ = demo;
    const auto level = parse_log_level(opts_.common.log_level);
    log_ = status_.make_logger(level);

    ews::soap::http_transport_options t;
    t.ca_file = opts_.common.ca_file;
    t.allow_insecure_http = opts_.common.allow_insecure_http;
    t.engine = opts_.common.http_engine;
    t.threads = 2;  // asio: as for cpprestsdk below, a slow callback then holds up no stream
    t.log = log_;
    try {
      http_ = ews::soap::make_http_transport(std::move(t));
    } catch (const ews::error& e) {
      throw usage_error("--ca-file " + opts_.common.ca_file + " cannot be used: " + e.info().message);
    }
    auto credentials = make_credentials(opts_.common.auth, http_);

    ews::soap::service_options so;
    so.url = opts_.common.url;
    so.http = http_;
    so.credentials = credentials;
    so.log = log_;
    service_ = std::make_shared<ews::soap::service_client>(std::move(so));

    if (!opts_.common.checkpoint_dir.empty()) {
      try {
        store_ = ews::make_file_checkpoint_store(opts_.common.checkpoint_dir);
      } catch (const ews::error& e) {
        return fatal_exit(e.info());
      }
    }

    if (opts_.reconcile) start_reconcile();

    ews::listener_options lo;
    lo.url = opts_.common.url;
    lo.credentials = credentials;
    lo.http = http_;
    lo.mailboxes = opts_.common.mailboxes;
    lo.folders = opts_.common.folders;
    lo.events.clear();
    for (const auto& name : opts_.events) lo.events.push_back(*ews::soap::parse_event_type(name));
    lo.connection_timeout_minutes = opts_.connection_timeout_minutes;
    lo.heartbeat_timeout = std::chrono::seconds(opts_.heartbeat_timeout_seconds);
    lo.log = log_;
    // Notifications -> GetItem through the listener's item fetcher (batches,
    // dedupe by ItemId + ChangeKey, back-pressure) -> deliver().
    if (opts_.batch_size > 0) lo.fetch.batch_size = static_cast<std::size_t>(opts_.batch_size);
    if (store_) {
      auto keys = store_->load_dedupe_keys(ews::checkpoint_store::listener_window);
      if (keys) lo.dedupe_keys = std::move(*keys);
      else status_.say("ignoring the saved dedupe window: " + keys.error().message);
    }
    listener_ = std::make_unique<ews::listener>(std::move(lo));
    listener_->on_item([this](ews::item_outcome&& o) { deliver(std::move(o)); });
    listener_->on_gap([this](const ews::gap& g) { on_gap(g); });
    listener_->on_error([this](const error_info& e) { on_error(e); });

    if (store_ && !report_restart_gaps()) return fatal_exit(*fatal_);
    listener_->start();
    wait();
    shut_down();
    if (fatal_) return fatal_exit(*fatal_);
    say_summary();
    return exit_ok;
  }

 private:
  // ---- the item path ---------------------------------------------------------

  void deliver(ews::item_outcome&& o) {
    if (o.kind == ews::outcome_kind::skipped) return;
    const std::string& label = label_of(o.source.mailbox);
    // Under the lock: with --count N exactly N item lines are printed, even
    // when more outcomes arrive before the listener has stopped.
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_) return;
    switch (o.kind) {
      case ews::outcome_kind::fetched:
        out_.write(item_line(label, o));
        ++items_;
        break;
      case ews::outcome_kind::gone:
        out_.write(gone_line(label, o));
        ++gone_;
        break;
      default:
        if (o.error) out_.write(error_line(*o.error));
        break;
    }
    ++outcomes_;
    dedupe_dirty_ = true;
    if (opts_.count && items_ >= static_cast<std::uint64_t>(*opts_.count)) done_ = true;
    changed_.notify_all();
  }

  const std::string& label_of(const std::string& mailbox) const {
    return mailbox.empty() ? own_label_ : mailbox;
  }

  // ---- gaps and reconcile -------------------------------------------------------

  void on_gap(const ews::gap& g) {
    out_.write(gap_line(label_of(g.mailbox), g));
    status_.say("events may have been missed in " + label_of(g.mailbox) + " " + g.folder_id + " since " +
                ews::to_iso8601(g.since) + " (" + g.reason + ")" +
                (opts_.reconcile ? "; reconciling with SyncFolderItems" : "; --reconcile would fetch them"));
    if (!opts_.reconcile) return;
    std::lock_guard<std::mutex> lock(mutex_);
    // One pass per folder covers every gap queued for it: keep the earliest
    // since, so a busy server's many gaps do not queue many passes.
    for (auto& queued : gaps_) {
      if (queued.mailbox == g.mailbox && queued.folder_id == g.folder_id) {
        if (g.since < queued.since) queued.since = g.since;
        return;
      }
    }
    gaps_.push_back(g);
    changed_.notify_all();
  }

  // A pass before the subscriptions exist would miss what arrives between its
  // SyncFolderItems and the Subscribe, which no stream carries either. The
  // listener reports its own gaps once re-subscribed; a Restart gap is ours.
  bool wait_until_subscribed() {
    for (;;) {
      if (listener_->delivered_through()) return true;
      std::unique_lock<std::mutex> lock(mutex_);
      if (changed_.wait_for(lock, 100ms, [&] { return stopping_; })) return false;
    }
  }

  void start_reconcile() {
    ews::reconcile_options ro;
    ro.service = service_;
    ro.store = store_;
    ro.log = log_;
    for (const auto& name : opts_.events) ro.events.push_back(*ews::soap::parse_event_type(name));
    // Found items go through the same fetcher, whose dedupe window drops
    // what the stream already delivered.
    ro.sink = [this](ews::mailbox_event&& e) {
      auto* fetcher = listener_->fetcher();
      return fetcher && fetcher->offer(std::move(e));
    };
    // Bounded by shutdown: a stop must not wait for a slow fetch to finish.
    ro.drain = [this] {
      auto* fetcher = listener_->fetcher();
      for (int i = 0; fetcher && i < 300 && !reconcile_stop_.done(); ++i)
        if (fetcher->drain(200ms)) return true;
      return false;
    };
    ro.on_error = [this](const error_info& e) { out_.write(error_line(e)); };
    reconciler_ = std::make_unique<ews::reconciler>(std::move(ro));
    reconcile_thread_ = std::thread([this] { reconcile_loop(); });
  }

  // A gap stays in gaps_ or reconciling_ until its pass succeeds: the
  // checkpoint's time must not pass its `since` before then (see
  // save_checkpoint). A failed pass is tried again after a pause.
  void reconcile_loop() {
    for (;;) {
      ews::gap g;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !gaps_.empty(); });
        if (stopping_) return;
        g = gaps_.front();
        reconciling_ = std::move(gaps_.front());
        gaps_.pop_front();
      }
      if (!wait_until_subscribed()) return;  // shutting down: the gap stays open
      try {
        const auto r = reconciler_->reconcile(g, reconcile_stop_);
        status_.say("reconciled " + label_of(g.mailbox) + " " + g.folder_id + ": " + std::to_string(r.delivered) +
                    " change(s) handed to the fetcher, " + std::to_string(r.duplicates) + " already seen");
        std::lock_guard<std::mutex> lock(mutex_);
        reconciling_.reset();
      } catch (const ews::error& e) {
        if (e.info().kind() == errc::cancelled) return;  // shutting down: the gap stays open
        out_.write(error_line(e.info()));
        std::unique_lock<std::mutex> lock(mutex_);
        gaps_.push_back(std::move(*reconciling_));
        reconciling_.reset();
        if (changed_.wait_for(lock, reconcile_retry_pause, [&] { return stopping_; })) return;
      }
    }
  }

  // The oldest `since` of the gaps not reconciled yet.
  std::optional<std::chrono::system_clock::time_point> oldest_open_gap() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<std::chrono::system_clock::time_point> oldest;
    if (reconciling_) oldest = reconciling_->since;
    for (const auto& g : gaps_)
      if (!oldest || g.since < *oldest) oldest = g.since;
    return oldest;
  }

  // After a restart: a gap from each folder's last saved time to now.
  bool report_restart_gaps() {
    auto times = store_->list_last_event_times();
    if (!times) {
      fatal_ = times.error();
      return false;
    }
    std::vector<std::string> mailboxes = opts_.common.mailboxes;
    if (mailboxes.empty()) mailboxes.push_back("");
    for (const auto& ft : *times) {
      const bool watched =
          std::find(mailboxes.begin(), mailboxes.end(), ft.folder.mailbox) != mailboxes.end() &&
          std::find(opts_.common.folders.begin(), opts_.common.folders.end(), ft.folder.folder_id) !=
              opts_.common.folders.end();
      if (watched) on_gap(ews::gap{ft.folder.mailbox, ft.folder.folder_id, ft.last_event, "Restart"});
    }
    return true;
  }

  // Records how far delivery is complete, so a restart reports a gap that
  // covers the downtime and everything not yet handled: the listener's
  // delivered_through(), held back by gaps not reconciled yet. Never "now":
  // events may still be queued (or dropped by a stop) that are older.
  void save_checkpoint() {
    if (!store_) return;
    bool dirty = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(dirty, dedupe_dirty_);
    }
    auto* fetcher = listener_ ? listener_->fetcher() : nullptr;
    if (dirty && fetcher) {
      auto s = store_->save_dedupe_keys(ews::checkpoint_store::listener_window, fetcher->dedupe_snapshot());
      if (!s) out_.write(error_line(s.error()));
    }
    auto through = listener_ ? listener_->delivered_through() : std::nullopt;
    if (!through) return;  // not every subscription is up yet: keep the old time
    if (auto gap = oldest_open_gap(); gap && *gap < *through) through = gap;
    std::vector<std::string> mailboxes = opts_.common.mailboxes;
    if (mailboxes.empty()) mailboxes.push_back("");
    for (const auto& m : mailboxes)
      for (const auto& f : opts_.common.folders) {
        auto s = store_->save_last_event_time({m, f}, *through);
        if (!s) out_.write(error_line(s.error()));
      }
  }

  // ---- errors ----------------------------------------------------------------------

  void on_error(const error_info& e) {
    if (e.kind() == errc::cancelled) return;  // work cut short by our own stop()
    out_.write(error_line(e));
    const auto c = listener_->counters().streaming;
    const auto kind = e.kind();
    // Before the first subscription succeeds every failure is a setup
    // problem (wrong URL, refused credentials, TLS): retrying it forever would
    // leave a newcomer staring at a silent program. Later, the listener
    // reconnects by itself; only what retrying cannot fix ends the program.
    const bool fatal = listener_->failed() || kind == errc::authentication || kind == errc::redirect ||
                       kind == errc::tls_failure || kind == errc::insecure_url || subscribe_refusal(e) ||
                       (c.subscribes == 0 && kind != errc::throttled);
    if (!fatal) {
      status_.say(e.message);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!fatal_) fatal_ = e;
    changed_.notify_all();
  }

  int fatal_exit(const error_info& e) {
    status_.say("error: " + explain_fatal(e, opts_.common.url));
    return exit_fatal;
  }

  // ---- main loop ---------------------------------------------------------------------

  void wait() {
    auto wake = stop_.on_cancel([this] {
      std::lock_guard<std::mutex> lock(mutex_);
      changed_.notify_all();
    });
    const auto start = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> end;
    if (opts_.duration_seconds) end = start + std::chrono::seconds(*opts_.duration_seconds);
    auto last_save = start;
    ews::listener_counters seen;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, 200ms, [&] { return done_ || fatal_ || stop_.done(); });
        if (done_ || fatal_ || stop_.done()) break;
      }
      if (listener_->failed()) break;  // its error reaches on_error, which sets fatal_
      const auto now = std::chrono::steady_clock::now();
      if (end && now >= *end) {
        status_.say("--duration reached");
        break;
      }
      const auto c = listener_->counters();
      report_progress(seen, c);
      seen = c;
      if (now - last_save >= 2s) {
        save_checkpoint();
        last_save = now;
      }
      if (demo_) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (demo_->played_out(outcomes_)) {
          status_.say("demo: the recorded session is played out");
          break;
        }
      }
    }
    if (stop_.cancelled() && !fatal_ && !done_) status_.say("stopping");
  }

  void report_progress(const ews::listener_counters& before, const ews::listener_counters& now) {
    using cause = ews::soap::reconnect_cause;
    // Said once connected, so that a setup error stays the only line.
    if (before.streaming.connections == 0 && now.streaming.connections > 0) say_watching();
    const auto closed = now.streaming.reconnects_for(cause::closed) - before.streaming.reconnects_for(cause::closed);
    if (closed > 0)
      status_.say("the server closed the stream (ConnectionStatus Closed); renewed it with the same subscription");
    const auto other = now.streaming.total_reconnects() - before.streaming.total_reconnects() - closed;
    if (other > 0) status_.say("a stream was lost and is being reopened (details with --log-level info)");
  }

  void say_watching() {
    std::string events;
    for (const auto& e : opts_.events) events += (events.empty() ? "" : ",") + e;
    std::string folders;
    for (const auto& f : opts_.common.folders) folders += (folders.empty() ? "" : ",") + f;
    std::string who = own_label_;
    if (!opts_.common.mailboxes.empty()) {
      who = std::to_string(opts_.common.mailboxes.size()) + " mailbox(es)";
      if (opts_.common.mailboxes.size() == 1) who = opts_.common.mailboxes.front();
    }
    status_.say("connected to " + opts_.common.url + "; watching " + who + " " + folders + " for " + events +
                " (Ctrl-C stops)");
  }

  void say_summary() {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.say("stopped after " + std::to_string(items_) + " item(s), " + std::to_string(gone_) + " gone");
  }

  void shut_down() {
    if (shut_down_) return;
    shut_down_ = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    // The reconcile pass first (it feeds the listener's fetcher), then the
    // listener: it unsubscribes (bounded by 1 s), gives items being fetched a
    // short grace, and stops. The dedupe window is saved while the fetcher
    // still exists.
    if (reconcile_thread_.joinable()) {
      reconcile_stop_.cancel();
      reconcile_thread_.join();
    }
    if (listener_) listener_->stop();
    save_checkpoint();
  }

 public:
  void set_own_label(std::string label) { own_label_ = std::move(label); }

 private:
  listen_options opts_;
  status_output& status_;
  ews::context stop_;
  // A child of stop_: ends a reconcile pass at shutdown without marking the
  // whole program as stopped by a signal.
  ews::context reconcile_stop_ = stop_.with_timeout(std::chrono::hours(24 * 365 * 10));
  line_output out_;
  ews::logger log_;
  std::string own_label_;
  demo_session* demo_ = nullptr;

  std::shared_ptr<ews::soap::transport> http_;
  std::shared_ptr<ews::soap::service_client> service_;
  std::shared_ptr<ews::checkpoint_store> store_;
  std::unique_ptr<ews::reconciler> reconciler_;
  std::unique_ptr<ews::listener> listener_;
  std::thread reconcile_thread_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<ews::gap> gaps_;             // waiting for the reconcile thread
  std::optional<ews::gap> reconciling_;   // being reconciled (or cut short by shutdown)
  std::optional<error_info> fatal_;
  bool done_ = false;
  bool stopping_ = false;
  bool shut_down_ = false;
  bool dedupe_dirty_ = false;
  std::uint64_t outcomes_ = 0;
  std::uint64_t items_ = 0;
  std::uint64_t gone_ = 0;
};

int run(int argc, char** argv) {
  status_output status("ews-listen");
  listen_options opts;
  try {
    opts = parse_listen_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const usage_error& e) {
    status.say(std::string(e.what()) + " (ews-listen --help shows the options)");
    return exit_usage;
  }
  if (opts.common.help) {
    std::fputs(listen_usage, stderr);
    return exit_ok;
  }

  // Before any thread starts: every thread inherits the blocked signals.
  ews::context stop;
  stop_signal signals([&](const char* name) {
    status.say(std::string(name) + " received");
    stop.cancel();
  });
  // cpprestsdk's default pool is 40 threads, and every piece of a response
  // then wakes another one; 2 carry thousands of mailboxes at a fraction of
  // the CPU (bench/results/reference.md). Process-wide: before any request,
  // and after the signals are blocked, since the threads start here. (The
  // asio engine's threads belong to its transport.)
  if (opts.common.http_engine == ews::soap::http_engine::cpprestsdk) {
    if (auto threads = ews::soap::set_http_engine_threads(2); !threads) status.say(threads.error().message);
  }

  std::unique_ptr<demo_session> demo;
  std::string own_label = opts.common.auth.user;
  std::string url = opts.common.url;
  try {
    if (opts.common.url.empty()) {
      demo = std::make_unique<demo_session>(demo::load());
      opts.common.url = url = demo->server.url();
      own_label = demo::mailbox;
      status.say("demo: no --url given, so a built-in server replays a recorded mailbox session of " +
                 demo::mailbox + " (about ten seconds)");
    } else {
      check_url(opts.common.url, opts.common.allow_insecure_http);
    }
    listen_session session(std::move(opts), status, stop);
    session.set_own_label(own_label);
    return session.run(demo.get());
  } catch (const usage_error& e) {
    status.say(std::string(e.what()) + " (ews-listen --help shows the options)");
    return exit_usage;
  } catch (const ews::error& e) {
    status.say("error: " + explain_fatal(e.info(), url));
    return exit_fatal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ews-listen: error: %s\n", e.what());
    return exit_fatal;
  }
}
