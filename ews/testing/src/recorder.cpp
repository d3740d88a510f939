// The recording proxy: a replay_server whose only responder forwards to the
// upstream and writes down what passed.
#include <ews/error.hpp>
#include <ews/testing/recorder.hpp>
#include <ews/testing/replay_server.hpp>

#include "request_parser.hpp"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace ews::testing {

namespace {

using steady = std::chrono::steady_clock;
using detail::iequals;

constexpr std::string_view redacted = "REDACTED";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool secret_header(std::string_view name) {
  const auto n = lower(name);
  return n == "authorization" || n == "proxy-authorization" || n == "cookie" ||
         n.find("token") != std::string::npos || n.find("password") != std::string::npos ||
         n.find("secret") != std::string::npos;
}

// Hop-by-hop and framing headers: the replay server writes its own.
bool framing_header(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Host") ||
         iequals(name, "Expect") || iequals(name, "Upgrade") || iequals(name, "TE");
}

// "a=b; Path=/; Secure" -> "a=REDACTED; Path=/; Secure"
std::string redact_set_cookie(const std::string& v) {
  const auto eq = v.find('=');
  if (eq == std::string::npos) return std::string(redacted);
  const auto semi = v.find(';', eq);
  return v.substr(0, eq + 1) + std::string(redacted) + (semi == std::string::npos ? "" : v.substr(semi));
}

}  // namespace

soap::http_headers redact_headers(const soap::http_headers& headers) {
  soap::http_headers out;
  out.reserve(headers.size());
  for (const auto& h : headers) {
    if (iequals(h.name, "Set-Cookie")) out.push_back({h.name, redact_set_cookie(h.value)});
    else if (secret_header(h.name)) out.push_back({h.name, std::string(redacted)});
    else out.push_back(h);
  }
  return out;
}

std::string redact_body(std::string body) {
  // For each start tag whose local name mentions password or token, replace
  // the text up to the next '<' (its content). Linear: pos only grows.
  std::size_t pos = 0;
  while ((pos = body.find('<', pos)) != std::string::npos) {
    const auto end = body.find('>', pos);
    if (end == std::string::npos) break;
    const bool is_start = pos + 1 < body.size() && body[pos + 1] != '/' && body[pos + 1] != '?' &&
                          body[pos + 1] != '!' && body[end - 1] != '/';
    std::size_t name_end = pos + 1;
    while (name_end < end && body[name_end] != ' ' && body[name_end] != '\t' && body[name_end] != '\r' &&
           body[name_end] != '\n' && body[name_end] != '>' && body[name_end] != '/')
      ++name_end;
    const auto name = lower(std::string_view(body).substr(pos + 1, name_end - pos - 1));
    const auto colon = name.rfind(':');
    const auto local = colon == std::string::npos ? name : name.substr(colon + 1);
    pos = end + 1;
    if (!is_start) continue;
    if (local.find("password") == std::string::npos && local.find("token") == std::string::npos) continue;
    const auto text_end = body.find('<', pos);
    if (text_end == std::string::npos || text_end == pos) continue;
    body.replace(pos, text_end - pos, redacted);
    pos += redacted.size();
  }
  return body;
}

struct recorder::impl {
  recorder_options options;
  std::shared_ptr<soap::transport> upstream;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::vector<exchange> recorded;
  std::vector<std::unique_ptr<soap::stream>> streams;
  std::unique_ptr<replay_server> server;

  // Feeds one forwarded stream: pieces from the transport's thread, taken by
  // the replay server's connection thread.
  struct stream_feed : soap::stream_observer {
    impl* owner = nullptr;
    std::size_t index = 0;  // into recorded
    std::mutex m;
    std::condition_variable c;
    bool have_head = false;
    bool ended = false;
    soap::http_response_head head;
    std::deque<std::string> pieces;
    steady::time_point last = steady::now();

    void on_head(const soap::http_response_head& h) override {
      {
        std::lock_guard<std::mutex> l(m);
        head = h;
        have_head = true;
        last = steady::now();
      }
      c.notify_all();
    }
    bool on_data(std::string_view bytes) override {
      const auto now = steady::now();
      {
        std::lock_guard<std::mutex> l(m);
        pieces.emplace_back(bytes);
        chunk rec;
        rec.data = std::string(bytes);
        rec.after = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
        last = now;
        std::lock_guard<std::mutex> o(owner->mu);
        owner->recorded[index].respond.chunks.push_back(std::move(rec));
      }
      c.notify_all();
      return true;
    }
    void on_end(const std::optional<error_info>& error) override {
      {
        std::lock_guard<std::mutex> l(m);
        ended = true;
        std::lock_guard<std::mutex> o(owner->mu);
        if (error && error->kind() == errc::connection_reset) owner->recorded[index].respond.end = ending::reset;
        else if (error && error->kind() != errc::cancelled) owner->recorded[index].respond.end = ending::close;
      }
      c.notify_all();
    }
  };

  std::size_t begin_exchange(const received_request& req) {
    exchange ex;
    ex.label = req.operation.empty() ? "request" : req.operation;
    ex.expect.operation = req.operation;
    ex.recorded_request = redact_body(req.body);
    std::lock_guard<std::mutex> lock(mu);
    recorded.push_back(std::move(ex));
    return recorded.size() - 1;
  }

  soap::http_request forward_request(const received_request& req) const {
    soap::http_request out;
    out.method = req.method;
    out.url = options.upstream;
    for (const auto& h : req.headers)
      if (!framing_header(h.name)) out.headers.push_back(h);
    out.body = req.body;
    return out;
  }

  static response bad_gateway(const error_info& e) {
    response r = soap_response("ews-replay record: upstream failed: " + e.message, 502);
    r.headers.push_back({"Content-Type", "text/plain"});
    return r;
  }

  static soap::http_headers response_headers(const soap::http_headers& in) {
    soap::http_headers out;
    for (const auto& h : in)
      if (!framing_header(h.name)) out.push_back(h);
    return out;
  }

  response forward(const received_request& req) {
    const auto index = begin_exchange(req);
    if (req.operation == "GetStreamingEvents") return forward_stream(req, index);
    auto res = upstream->send(forward_request(req), context{});
    if (!res) return bad_gateway(res.error());
    response r;
    r.status = res->head.status;
    r.reason = res->head.reason;
    r.headers = response_headers(res->head.headers);
    r.body = res->body;
    std::lock_guard<std::mutex> lock(mu);
    auto& rec = recorded[index].respond;
    rec.status = r.status;
    rec.reason = r.reason;
    rec.headers = redact_headers(r.headers);
    rec.body = r.body;
    return r;
  }

  response forward_stream(const received_request& req, std::size_t index) {
    auto feed = std::make_shared<stream_feed>();
    feed->owner = this;
    feed->index = index;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return bad_gateway(make_error(errc::cancelled, "recorder stopped"));
    }
    auto s = upstream->open_stream(forward_request(req), feed);
    bool late = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      late = stopping;
      if (!late) streams.push_back(std::move(s));
    }
    // stop() came between the check above and now: it did not see this
    // stream, so cancel it here (outside the lock: on_end takes it).
    if (late) s->cancel();
    {
      // Bounded: the transport's inactivity timeout ends the stream, and
      // stop() cancels it; both end in on_end.
      std::unique_lock<std::mutex> l(feed->m);
      feed->c.wait(l, [&] { return feed->have_head || feed->ended; });
      if (!feed->have_head) return bad_gateway(make_error(errc::connect_failed, "no response head"));
    }
    response r;
    r.status = feed->head.status;
    r.reason = feed->head.reason;
    r.headers = response_headers(feed->head.headers);
    {
      std::lock_guard<std::mutex> lock(mu);
      auto& rec = recorded[index].respond;
      rec.status = r.status;
      rec.reason = r.reason;
      rec.headers = redact_headers(r.headers);
    }
    // Live forwarding: each piece goes out as it came; empty chunks mean
    // "nothing yet" and keep the server responsive to stop.
    r.more_chunks = [feed](std::size_t) -> std::optional<chunk> {
      std::unique_lock<std::mutex> l(feed->m);
      feed->c.wait_for(l, std::chrono::milliseconds(100), [&] { return !feed->pieces.empty() || feed->ended; });
      if (!feed->pieces.empty()) {
        chunk c;
        c.data = std::move(feed->pieces.front());
        feed->pieces.pop_front();
        return c;
      }
      if (feed->ended) return std::nullopt;
      return chunk{};
    };
    return r;
  }

  void stop() {
    std::vector<std::unique_ptr<soap::stream>> to_close;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
      stopping = true;
      to_close.swap(streams);
    }
    for (auto& s : to_close) s->cancel();
    to_close.clear();  // waits until no observer call runs
    if (server) server->stop();
  }
};

recorder::recorder(recorder_options options, std::shared_ptr<soap::transport> upstream_transport)
    : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->upstream = upstream_transport ? std::move(upstream_transport)
                                       : std::shared_ptr<soap::transport>(soap::make_http_transport());
  server_options so;
  so.port = impl_->options.port;
  impl_->server = std::make_unique<replay_server>(scenario{}, so);
  impl_->server->on("", [this](const received_request& req) { return impl_->forward(req); });
}

recorder::~recorder() { stop(); }

std::string recorder::url() const { return impl_->server->url(); }

std::uint16_t recorder::port() const noexcept { return impl_->server->port(); }

scenario recorder::recorded() const {
  scenario s;
  s.name = impl_->options.name;
  std::lock_guard<std::mutex> lock(impl_->mu);
  s.exchanges = impl_->recorded;
  return s;
}

void recorder::stop() { impl_->stop(); }

}  // namespace ews::testing
