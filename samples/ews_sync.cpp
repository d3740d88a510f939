// ews-sync: the SyncFolderItems poller as a program. Prints one JSON line per
// change of one folder (create, update, delete, read_flag) and resumes from
// --checkpoint DIR. --once: one pass, then exit; otherwise a pass every
// --interval seconds until SIGINT/SIGTERM.

#include "cli_options.hpp"
#include "event_lines.hpp"
#include "program_support.hpp"
#include "stop_signal.hpp"

#include <ews/checkpoint_store.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/sync_poller.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace ews::samples;
using ews::errc;
using ews::error_info;

// Failures a later pass can get past (throttling, a network blip); the rest
// need the operator (credentials, URL, mailbox, a damaged checkpoint).
bool retry_may_help(const error_info& e) {
  if (e.transient) return true;
  switch (e.kind()) {
    case errc::throttled:
    case errc::connection_reset:
    case errc::closed_mid_body:
      return true;
    default:
      return false;
  }
}

int run(int argc, char** argv) {
  status_output status("ews-sync");
  sync_options opts;
  try {
    opts = parse_sync_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const usage_error& e) {
    status.say(std::string(e.what()) + " (ews-sync --help shows the options)");
    return exit_usage;
  }
  if (opts.common.help) {
    std::fputs(sync_usage, stderr);
    return exit_ok;
  }

  ews::context stop;
  stop_signal signals([&](const char* name) {
    status.say(std::string(name) + " received; stopping");
    stop.cancel();
  });

  const std::string& url = opts.common.url;
  const std::string mailbox = opts.common.mailboxes.empty() ? std::string() : opts.common.mailboxes.front();
  const std::string label = mailbox.empty() ? opts.common.auth.user : mailbox;
  line_output out;
  try {
    check_url(url, opts.common.allow_insecure_http);
    const auto log = status.make_logger(parse_log_level(opts.common.log_level));
    ews::soap::http_transport_options t;
    t.ca_file = opts.common.ca_file;
    t.allow_insecure_http = opts.common.allow_insecure_http;
    t.engine = opts.common.http_engine;
    t.log = log;
    std::shared_ptr<ews::soap::transport> http;
    try {
      http = ews::soap::make_http_transport(std::move(t));
    } catch (const ews::error& e) {
      throw usage_error("--ca-file " + opts.common.ca_file + " cannot be used: " + e.info().message);
    }
    ews::soap::service_options so;
    so.url = url;
    so.http = http;
    so.credentials = make_credentials(opts.common.auth, http);
    so.log = log;

    ews::sync_poller_options po;
    po.service = std::make_shared<ews::soap::service_client>(std::move(so));
    if (!opts.common.checkpoint_dir.empty()) po.store = ews::make_file_checkpoint_store(opts.common.checkpoint_dir);
    po.log = log;
    po.mailbox = mailbox;
    po.folder = opts.common.folders.front();
    po.interval = std::chrono::seconds(opts.interval_seconds);
    po.on_change = [&](const ews::sync_event& e) { out.write(change_line(label, e)); };
    po.on_error = [&](const error_info& e) { out.write(error_line(e)); };
    ews::sync_poller poller(std::move(po));

    // Said after the first pass, so that a setup error stays the only line.
    const std::string what = (label.empty() ? std::string("the own mailbox") : label) + " " +
                             opts.common.folders.front() + " at " + url;
    for (bool first = true; first || !opts.once; first = false) {
      if (!first) {
        // Wait for the interval or a signal.
        std::mutex m;
        std::condition_variable cv;
        auto wake = stop.on_cancel([&] {
          std::lock_guard<std::mutex> lock(m);
          cv.notify_all();
        });
        std::unique_lock<std::mutex> lock(m);
        cv.wait_for(lock, std::chrono::seconds(opts.interval_seconds), [&] { return stop.cancelled(); });
      }
      if (stop.cancelled()) break;
      try {
        const auto r = poller.run_once(stop);
        status.say("synced " + what + ": " + std::to_string(r.delivered) + " change(s)" +
                   (r.sync_state_reset ? " (the server forgot the sync state; started over)" : "") +
                   (opts.once ? "" : "; next pass in " + std::to_string(opts.interval_seconds) + " s (Ctrl-C stops)"));
      } catch (const ews::error& e) {
        if (e.info().kind() == errc::cancelled || stop.cancelled()) break;
        out.write(error_line(e.info()));
        if (opts.once || !retry_may_help(e.info())) throw;
        status.say(e.info().message + "; trying again in " + std::to_string(opts.interval_seconds) + " s");
      }
    }
    return exit_ok;
  } catch (const usage_error& e) {
    status.say(std::string(e.what()) + " (ews-sync --help shows the options)");
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
    std::fprintf(stderr, "ews-sync: error: %s\n", e.what());
    return exit_fatal;
  }
}
