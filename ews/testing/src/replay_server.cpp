// The replay server: an acceptor thread and one thread per connection (at
// most max_connections), every wait interruptible by a stop pipe so the
// destructor never hangs on a stalled client.
#include <ews/error.hpp>
#include <ews/testing/replay_server.hpp>

#include "connection_io.hpp"
#include "request_parser.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ews::testing {

namespace {

using steady = std::chrono::steady_clock;
using detail::connection_io;
using detail::header_value;
using detail::iequals;
using detail::wait_result;

const char* standard_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string fault_body(const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '<') escaped += "&lt;";
    else if (c == '&') escaped += "&amp;";
    else if (c == '>') escaped += "&gt;";
    else escaped += c;
  }
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
         "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>"
         "<faultcode>s:Server</faultcode><faultstring>ews-replay: " +
         escaped + "</faultstring></s:Fault></s:Body></s:Envelope>";
}

std::string hex(std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[n & 15]);
    n >>= 4;
  } while (n != 0);
  return s;
}

std::string label_of(const exchange& ex, std::size_t index) {
  std::string s = ex.label.empty() ? "#" + std::to_string(index + 1) : "'" + ex.label + "' (#" + std::to_string(index + 1) + ")";
  if (!ex.expect.operation.empty()) s += " " + ex.expect.operation;
  return s;
}

std::string shorten(const std::string& s) {
  return s.size() <= 80 ? s : s.substr(0, 77) + "...";
}

// Checks one request against one expectation; appends readable failures.
void check(const request_expectation& e, const received_request& r, const std::string& who,
           std::vector<std::string>& failures) {
  for (const auto& t : e.body_contains)
    if (r.body.find(t) == std::string::npos)
      failures.push_back(who + ": request body lacks '" + shorten(t) + "'");
  for (const auto& t : e.body_excludes)
    if (r.body.find(t) != std::string::npos)
      failures.push_back(who + ": request body contains forbidden '" + shorten(t) + "'");
  for (const auto& h : e.header_equals) {
    const auto* v = header_value(r.headers, h.name);
    if (v == nullptr) failures.push_back(who + ": header " + h.name + " missing");
    else if (*v != h.value)
      failures.push_back(who + ": header " + h.name + " is '" + shorten(*v) + "', expected '" + shorten(h.value) + "'");
  }
  for (const auto& h : e.header_contains) {
    const auto* v = header_value(r.headers, h.name);
    if (v == nullptr) failures.push_back(who + ": header " + h.name + " missing");
    else if (v->find(h.value) == std::string::npos)
      failures.push_back(who + ": header " + h.name + " lacks '" + shorten(h.value) + "'");
  }
  for (const auto& h : e.header_excludes) {
    const auto* v = header_value(r.headers, h.name);
    if (v != nullptr && v->find(h.value) != std::string::npos)
      failures.push_back(who + ": header " + h.name + " contains forbidden '" + shorten(h.value) + "'");
  }
  for (const auto& n : e.header_present)
    if (header_value(r.headers, n) == nullptr) failures.push_back(who + ": header " + n + " missing");
  for (const auto& n : e.header_absent)
    if (header_value(r.headers, n) != nullptr) failures.push_back(who + ": header " + n + " present but must not be");
}

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::string ssl_error_text() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Outcome of writing one response.
enum class after_response { keep_alive, closed };

}  // namespace

std::string verification::report() const {
  if (ok) return "all expectations met";
  std::string s;
  for (const auto& f : failures) s += f + "\n";
  return s;
}

struct replay_server::impl {
  struct connection_slot {
    std::thread thread;
    std::atomic<bool> done{false};
    int notify_fd = -1;  // owned by the connection_io of the thread
  };

  server_options options;
  int listen_fd = -1;
  int stop_pipe[2] = {-1, -1};
  std::uint16_t bound_port = 0;
  std::unique_ptr<SSL_CTX, ssl_ctx_deleter> tls;
  std::thread acceptor;
  std::mutex stop_mu;  // serialises stop()
  bool stopped = false;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  bool stopping = false;
  std::vector<exchange> exchanges;
  std::vector<bool> consumed;
  std::vector<std::pair<std::string, responder>> responders;
  std::vector<std::string> forbidden;
  std::set<std::string, std::less<>> released;
  std::vector<received_request> log;
  std::vector<std::string> failures;
  std::map<std::string, std::size_t, std::less<>> responses_done;
  std::size_t responses_done_any = 0;
  std::size_t accepted = 0;
  std::size_t open = 0;
  std::list<connection_slot> connections;

  explicit impl(server_options o) : options(std::move(o)) {}

  ~impl() { close_fds(); }

  void close_fds() {
    if (listen_fd >= 0) ::close(listen_fd);
    listen_fd = -1;
    for (int& fd : stop_pipe) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }

  [[noreturn]] static void throw_io(const std::string& what) {
    throw ews::error(make_error(errc::io_error, "replay server: " + what + ": " + std::strerror(errno)));
  }

  void setup() {
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
      tls.reset(SSL_CTX_new(TLS_server_method()));
      if (!tls) throw ews::error(make_error(errc::tls_failure, "replay server: " + ssl_error_text()));
      SSL_CTX_set_min_proto_version(tls.get(), TLS1_2_VERSION);
      if (SSL_CTX_use_certificate_chain_file(tls.get(), options.tls_cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(tls.get(), options.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(tls.get()) != 1)
        throw ews::error(make_error(errc::tls_failure, "replay server: cannot load " + options.tls_cert_file +
                                                           " / " + options.tls_key_file + ": " + ssl_error_text()));
    }
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw_io("pipe");
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd < 0) throw_io("socket");
    const int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw_io("bind 127.0.0.1:" + std::to_string(options.port));
    if (::listen(listen_fd, 128) != 0) throw_io("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_io("getsockname");
    bound_port = ntohs(addr.sin_port);
    acceptor = std::thread([this] { accept_loop(); });
  }

  void reap_finished() {
    std::list<connection_slot> finished;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = connections.begin(); it != connections.end();) {
        auto next = std::next(it);
        if (it->done.load()) finished.splice(finished.end(), connections, it);
        it = next;
      }
    }
    for (auto& c : finished) c.thread.join();
  }

  void accept_loop() {
    // Bounded by stop: every poll also watches the stop pipe.
    for (;;) {
      reap_finished();
      bool full = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        full = open >= options.max_connections;
      }
      pollfd p[2] = {{listen_fd, static_cast<short>(full ? 0 : POLLIN), 0}, {stop_pipe[0], POLLIN, 0}};
      // At capacity, look again every 20 ms for a freed slot.
      const int r = ::poll(p, 2, full ? 20 : 1000);
      if (r < 0 && errno != EINTR) return;
      if ((p[1].revents & POLLIN) != 0) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int notify = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (notify < 0) {
        ::close(fd);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++accepted;
      ++open;
      connections.emplace_back();
      auto& slot = connections.back();
      slot.notify_fd = notify;
      const std::size_t number = accepted;
      slot.thread = std::thread([this, fd, notify, number, &slot] {
        serve(fd, notify, number);
        {
          std::lock_guard<std::mutex> l(mu);
          --open;
          slot.notify_fd = -1;
        }
        ::close(notify);
        changed.notify_all();
        slot.done.store(true);
      });
    }
  }

  void stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mu);
    if (stopped) return;
    stopped = true;
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    changed.notify_all();
    if (stop_pipe[1] >= 0) {
      const char b = 1;
      [[maybe_unused]] const auto n = ::write(stop_pipe[1], &b, 1);
    }
    if (acceptor.joinable()) acceptor.join();
    std::list<connection_slot> all;
    {
      std::lock_guard<std::mutex> lock(mu);
      all.swap(connections);
    }
    for (auto& c : all) c.thread.join();
    if (listen_fd >= 0) ::close(listen_fd);
    listen_fd = -1;
  }

  // Records the request and decides the answer. `use_responder` is set when
  // a responder must be called (outside the lock).
  response dispatch(received_request& req, responder& use_responder) {
    std::unique_lock<std::mutex> lock(mu);
    const std::string who = "request " + std::to_string(log.size() + 1) + " (" +
                            (req.operation.empty() ? req.method + " " + req.target : req.operation) + ")";
    if (std::find(forbidden.begin(), forbidden.end(), req.operation) != forbidden.end())
      failures.push_back(who + ": forbidden operation " + req.operation + " received");
    response answer;
    bool answered = false;
    for (std::size_t i = 0; i < exchanges.size(); ++i) {
      if (consumed[i]) continue;
      auto& ex = exchanges[i];
      if (!ex.expect.operation.empty() && ex.expect.operation != req.operation) continue;
      consumed[i] = true;
      req.exchange = ex.label.empty() ? "#" + std::to_string(i + 1) : ex.label;
      check(ex.expect, req, who + " for exchange " + label_of(ex, i), failures);
      // Each exchange answers once: its response can be moved out (no copy
      // of a large body under the lock).
      if (ex.respond_with) use_responder = std::move(ex.respond_with);
      else answer = std::move(ex.respond);
      answered = true;
      break;
    }
    // Responders: one for this operation first, then a catch-all; the
    // latest registration wins within each kind.
    for (int pass = 0; pass < 2 && !answered; ++pass) {
      for (auto it = responders.rbegin(); it != responders.rend(); ++it) {
        if (pass == 0 ? it->first != req.operation || req.operation.empty() : !it->first.empty()) continue;
        use_responder = it->second;
        answered = true;
        break;
      }
    }
    if (!answered) {
      failures.push_back(who + ": unexpected request, no exchange left for operation '" + req.operation + "'");
      answer = soap_response(fault_body("unexpected request " + req.operation), 500);
    }
    log.push_back(req);
    lock.unlock();
    changed.notify_all();
    return answer;
  }

  void mark_done(const std::string& operation) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++responses_done[operation];
      ++responses_done_any;
    }
    changed.notify_all();
  }

  bool gate_open(const std::string& gate) const {
    std::lock_guard<std::mutex> lock(mu);
    return released.count(gate) > 0;
  }

  // Waits out a chunk's delay and gate. False: stop or the client left.
  bool wait_for_chunk(connection_io& io, const chunk& c) {
    if (c.after.count() > 0) {
      const auto deadline = steady::now() + c.after;
      for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
        if (left.count() <= 0) break;
        const auto r = io.wait(left);
        if (r == wait_result::stopped || r == wait_result::hangup) return false;
      }
    }
    if (!c.gate.empty()) {
      // Each round ends on a release (notified), stop, hangup or a 1 s tick.
      while (!gate_open(c.gate)) {
        const auto r = io.wait(std::chrono::seconds(1));
        if (r == wait_result::stopped || r == wait_result::hangup) return false;
      }
    }
    return true;
  }

  // Writes with an optional byte budget (reset_after_bytes).
  struct budget_writer {
    connection_io& io;
    std::optional<std::size_t> left;
    bool cut = false;
    bool write(std::string_view data) {
      if (left) {
        if (data.size() >= *left) {
          const auto part = data.substr(0, *left);
          left = 0;
          cut = true;
          if (!part.empty()) io.write_all(part);
          return false;
        }
        *left -= data.size();
      }
      return io.write_all(data);
    }
  };

  after_response finish(connection_io& io, const response& r) {
    switch (r.end) {
      case ending::final:
        if (r.raw) {
          io.close();
          return after_response::closed;
        }
        return after_response::keep_alive;
      case ending::close:
        io.close();
        return after_response::closed;
      case ending::reset:
        io.reset();
        return after_response::closed;
      case ending::hold: {
        const auto deadline = steady::now() + r.hold_for;
        for (;;) {
          const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
          if (left.count() <= 0) break;
          const auto res = io.wait(left);
          if (res == wait_result::stopped || res == wait_result::hangup) break;
        }
        io.close();
        return after_response::closed;
      }
    }
    return after_response::closed;
  }

  after_response write_response(connection_io& io, const response& r, const std::string& operation,
                                bool head_only) {
    budget_writer w{io, r.reset_after_bytes};
    auto cut_or_gone = [&] {
      if (w.cut) io.reset();
      return after_response::closed;
    };
    if (r.raw) {
      if (!w.write(*r.raw)) return cut_or_gone();
      mark_done(operation);
      return finish(io, r);
    }
    const bool streaming = r.streaming();
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                       (r.reason.empty() ? standard_reason(r.status) : r.reason) + "\r\n";
    bool has_type = false;
    for (const auto& h : r.headers) {
      if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding")) continue;
      if (iequals(h.name, "Content-Type")) has_type = true;
      head += h.name + ": " + h.value + "\r\n";
    }
    if (!has_type && (streaming || !r.body.empty())) head += "Content-Type: text/xml; charset=utf-8\r\n";
    if (streaming) head += "Transfer-Encoding: chunked\r\n";
    else head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    head += "\r\n";
    if (!streaming) {
      // Small bodies go out with the head in one write.
      if (!head_only && r.body.size() <= 64 * 1024) head += r.body;
      if (!w.write(head)) return cut_or_gone();
      if (!head_only && r.body.size() > 64 * 1024 && !w.write(r.body)) return cut_or_gone();
      mark_done(operation);
      return finish(io, r);
    }
    if (!w.write(head)) return cut_or_gone();
    auto send_chunk = [&](const chunk& c) {
      if (!wait_for_chunk(io, c)) return false;
      if (c.data.empty()) return true;
      if (c.raw) return w.write(c.data);
      return w.write(hex(c.data.size()) + "\r\n" + c.data + "\r\n");
    };
    for (const auto& c : r.chunks)
      if (!send_chunk(c)) return cut_or_gone();
    if (r.more_chunks) {
      // Bounded by the source (nullopt ends it) and by stop.
      for (std::size_t i = 0;; ++i) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (stopping) return cut_or_gone();
        }
        auto c = r.more_chunks(i);
        if (!c) break;
        if (!send_chunk(*c)) return cut_or_gone();
      }
    }
    if (r.end == ending::final) {
      if (!w.write("0\r\n\r\n")) return cut_or_gone();
      mark_done(operation);
      return after_response::keep_alive;
    }
    mark_done(operation);
    return finish(io, r);
  }

  void serve(int fd, int notify_fd, std::size_t number) {
    connection_io io(fd, stop_pipe[0], notify_fd, tls.get());
    if (!io.handshake()) return;
    detail::request_parser parser(options.max_request_bytes);
    std::string buffer;
    // Bounded: each round reads bytes or ends the connection; stop ends it.
    for (;;) {
      auto st = parser.feed(buffer);
      if (st == detail::request_parser::state::need_more) {
        if (parser.wants_continue() && !io.write_all("HTTP/1.1 100 Continue\r\n\r\n")) return;
        if (!io.read_some(buffer)) return;
        continue;
      }
      if (st == detail::request_parser::state::failed) {
        {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back("connection " + std::to_string(number) + ": bad request (" +
                             parser.error_message() + ")");
        }
        changed.notify_all();
        response r = soap_response(fault_body(parser.error_message()), parser.error_status());
        r.end = ending::close;
        write_response(io, r, "", false);
        return;
      }
      auto data = parser.take();
      received_request req;
      req.method = std::move(data.method);
      req.target = std::move(data.target);
      req.headers = std::move(data.headers);
      req.body = std::move(data.body);
      req.operation = operation_of(req.body);
      req.connection = number;
      req.at = steady::now();
      const auto* conn_hdr = header_value(req.headers, "Connection");
      const bool client_closes =
          (conn_hdr != nullptr && iequals(*conn_hdr, "close")) || data.version == "HTTP/1.0";
      responder dynamic;
      response answer = dispatch(req, dynamic);
      if (dynamic) {
        try {
          answer = dynamic(req);
        } catch (const std::exception& e) {
          {
            std::lock_guard<std::mutex> lock(mu);
            failures.push_back("responder for " + req.operation + " threw: " + e.what());
          }
          answer = soap_response(fault_body("responder threw"), 500);
        }
      }
      const auto result = write_response(io, answer, req.operation, req.method == "HEAD");
      if (result == after_response::closed || client_closes) return;
    }
  }

  std::size_t count_locked(std::string_view operation) const {
    if (operation.empty()) return log.size();
    return static_cast<std::size_t>(std::count_if(log.begin(), log.end(), [&](const received_request& r) {
      return r.operation == operation;
    }));
  }
};

replay_server::replay_server(scenario s, server_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  impl_->exchanges = std::move(s.exchanges);
  impl_->consumed.assign(impl_->exchanges.size(), false);
  impl_->forbidden = std::move(s.forbidden_operations);
  impl_->setup();
}

replay_server::~replay_server() { stop(); }

void replay_server::stop() { impl_->stop(); }

std::uint16_t replay_server::port() const noexcept { return impl_->bound_port; }

std::string replay_server::origin() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->bound_port);
}

std::string replay_server::url() const { return origin() + impl_->options.path; }

void replay_server::add(exchange e) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->exchanges.push_back(std::move(e));
  impl_->consumed.push_back(false);
}

void replay_server::on(std::string operation, responder r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->responders.emplace_back(std::move(operation), std::move(r));
}

void replay_server::forbid(std::string operation) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->forbidden.push_back(std::move(operation));
}

void replay_server::release(std::string_view gate) {
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->released.emplace(gate);
    for (const auto& c : impl_->connections)
      if (c.notify_fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(c.notify_fd, &one, sizeof one);
      }
  }
}

bool replay_server::wait_for(std::string_view operation, std::size_t count,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->count_locked(operation) >= count; });
}

bool replay_server::wait_for_responses(std::string_view operation, std::size_t count,
                                       std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] {
    if (operation.empty()) return impl_->responses_done_any >= count;
    const auto it = impl_->responses_done.find(operation);
    return it != impl_->responses_done.end() && it->second >= count;
  });
}

bool replay_server::wait_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->open == 0; });
}

std::vector<received_request> replay_server::received() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->log;
}

std::size_t replay_server::count(std::string_view operation) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->count_locked(operation);
}

std::size_t replay_server::connections_accepted() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->accepted;
}

std::size_t replay_server::connections_open() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->open;
}

verification replay_server::verify() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  verification v;
  v.failures = impl_->failures;
  for (std::size_t i = 0; i < impl_->exchanges.size(); ++i)
    if (!impl_->consumed[i])
      v.failures.push_back("exchange " + label_of(impl_->exchanges[i], i) + " was never requested");
  v.ok = v.failures.empty();
  return v;
}

}  // namespace ews::testing
