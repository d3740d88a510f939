#include "bench_server.hpp"

#include "measure.hpp"
#include "workload.hpp"

#include <ews/testing/replay_server.hpp>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <pthread.h>
#include <sys/prctl.h>

namespace ews::bench {
namespace {

namespace rt = ews::testing;
using std::chrono::milliseconds;

// Piece sizes of the stream: varied, so envelope and chunk boundaries never
// line up (a TCP segment, a short write, a large write).
constexpr std::size_t piece_sizes[] = {1460, 517, 2920, 4096, 1000, 8192, 333};

rt::chunk data_chunk(std::string data, milliseconds after = milliseconds(0)) {
  rt::chunk c;
  c.data = std::move(data);
  c.after = after;
  return c;
}

// Nothing to send now: ask again after `after` (never 0, or the server spins).
rt::chunk idle_chunk(milliseconds after) { return data_chunk(std::string(), after); }

struct server_state {
  server_state(const workload& w, const options& o)
      : load(w),
        mode(o.text("mode", "pipeline")),
        mails(o.number("mails", 2000)),
        body_bytes(o.number("body", 0)),
        per_notification(o.number("per-notification", 5)),
        per_envelope(o.number("per-envelope", 2)),
        keep_alive(milliseconds(o.number("keepalive-ms", 1000))),
        envelopes(o.number("envelopes", 200)),
        interval(milliseconds(o.number("interval-ms", 20))),
        sent_ns(std::make_unique<std::atomic<std::int64_t>[]>(envelopes)) {
    for (std::size_t i = 0; i < envelopes; ++i) sent_ns[i] = 0;
  }

  const workload& load;
  const std::string mode;
  const std::uint64_t mails;
  const std::size_t body_bytes;
  const std::size_t per_notification;
  const std::size_t per_envelope;
  const milliseconds keep_alive;
  const std::size_t envelopes;
  const milliseconds interval;

  std::atomic<std::uint64_t> next_subscription{1};
  // pipeline: the next mail to announce, across every stream.
  std::mutex stream_mutex;
  std::uint64_t next_seq = 0;
  std::uint64_t next_envelope = 0;
  // latency: when each envelope's last byte was written (0: not yet).
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_ns;

  // The next envelope of the pipeline run, or "" when every mail is out.
  std::string next_pipeline_envelope(const std::vector<std::string>& ids) {
    std::lock_guard<std::mutex> lock(stream_mutex);
    if (next_seq >= mails || ids.empty()) return {};
    std::vector<std::pair<std::string, std::string>> notes;
    for (std::size_t n = 0; n < per_envelope && next_seq < mails; ++n) {
      const auto& sub = ids[(next_envelope * per_envelope + n) % ids.size()];
      std::string events;
      for (std::size_t k = 0; k < per_notification && next_seq < mails; ++k) events += load.new_mail_event(next_seq++);
      notes.emplace_back(sub, std::move(events));
    }
    ++next_envelope;
    return load.events_envelope(notes);
  }

  rt::chunk_source pipeline_stream(std::vector<std::string> ids) {
    auto pending = std::make_shared<std::string>();
    return [this, ids = std::move(ids), pending](std::size_t index) -> std::optional<rt::chunk> {
      const std::size_t want = piece_sizes[index % std::size(piece_sizes)];
      while (pending->size() < want) {
        std::string e = next_pipeline_envelope(ids);
        if (e.empty()) break;
        *pending += e;
      }
      if (pending->empty()) return idle_chunk(milliseconds(200));
      const std::size_t take = std::min(want, pending->size());
      rt::chunk c = data_chunk(pending->substr(0, take));
      pending->erase(0, take);
      return c;
    };
  }

  rt::chunk_source scale_stream() {
    return [this](std::size_t index) -> std::optional<rt::chunk> {
      return data_chunk(load.keep_alive_envelope(), index == 0 ? milliseconds(0) : keep_alive);
    };
  }

  // Each envelope goes out in two pieces 1 ms apart (split across segments);
  // the call after its second piece notes the time its last byte was written.
  rt::chunk_source latency_stream(std::vector<std::string> ids) {
    return [this, ids = std::move(ids)](std::size_t index) -> std::optional<rt::chunk> {
      const std::size_t e = index / 3;
      if (e >= envelopes || ids.empty()) return idle_chunk(milliseconds(200));
      std::vector<std::pair<std::string, std::string>> notes;
      std::string events;
      for (std::size_t k = 0; k < per_notification; ++k) events += load.new_mail_event(e * per_notification + k);
      notes.emplace_back(ids[e % ids.size()], std::move(events));
      const std::string envelope = load.events_envelope(notes);
      switch (index % 3) {
        case 0: return data_chunk(envelope.substr(0, envelope.size() / 2));
        case 1: return data_chunk(envelope.substr(envelope.size() / 2), milliseconds(1));
        default:
          sent_ns[e] = now_ns();
          return idle_chunk(interval);
      }
    };
  }

  rt::response get_item(const rt::received_request& r) {
    std::vector<std::uint64_t> seqs;
    std::vector<std::string> subjects;
    for (const auto& id : attribute_values(r.body, "ItemId", "Id")) {
      const auto seq = workload::seq_of(id);
      if (!seq) continue;
      seqs.push_back(*seq);
      if (mode == "latency") {
        // The envelope's last byte went out before the client could ask; the
        // bounded wait only covers the few microseconds until it is noted.
        const std::size_t e = static_cast<std::size_t>(*seq / per_notification);
        std::int64_t t = 0;
        for (int i = 0; i < 10000 && e < envelopes && (t = sent_ns[e].load()) == 0; ++i)
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        subjects.push_back("sent-ns=" + std::to_string(t));
      }
    }
    return rt::soap_response(load.get_item_response(seqs, body_bytes, subjects));
  }
};

}  // namespace

int run_server(const options& o, const workload& w) {
  // SIGTERM/SIGINT are taken by sigwait() below: blocked here, before any
  // thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A name of its own (inherited by its threads), so profiles tell the
  // server from the client.
  prctl(PR_SET_NAME, "ews-bench-srv", 0, 0, 0);

  server_state state(w, o);
  rt::server_options so;
  so.max_connections = o.number("max-connections", 512);
  rt::replay_server server(rt::scenario{}, so);
  server.on("Subscribe", [&](const rt::received_request&) {
    return rt::soap_response(w.subscribe_response(workload::subscription_id(state.next_subscription++)));
  });
  server.on("Unsubscribe", [&](const rt::received_request&) { return rt::soap_response(w.unsubscribe_response()); });
  server.on("GetItem", [&](const rt::received_request& r) { return state.get_item(r); });
  server.on("GetStreamingEvents", [&](const rt::received_request& r) {
    auto ids = element_texts(r.body, "SubscriptionId");
    rt::response resp;
    resp.end = rt::ending::close;
    if (state.mode == "scale")
      resp.more_chunks = state.scale_stream();
    else if (state.mode == "latency")
      resp.more_chunks = state.latency_stream(std::move(ids));
    else
      resp.more_chunks = state.pipeline_stream(std::move(ids));
    return resp;
  });

  std::cout << server.url() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}

}  // namespace ews::bench
