// End-to-end checks of the sample programs (issue 7): ews-listen and ews-sync
// run as processes against the replay server (or nothing), and their exit
// status, stdout JSON lines and stderr are checked against the contract.
#include <ews/testing/replay_server.hpp>

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

const std::string listen_bin = EWS_LISTEN_BIN;
const std::string sync_bin = EWS_SYNC_BIN;
const std::string demo_dir = EWS_DEMO_DIR;

// A child process with stdout and stderr captured. Killed (SIGKILL) and
// reaped by the destructor if still running: nothing outlives a test.
class child {
 public:
  child(const std::string& program, const std::vector<std::string>& args,
        const std::vector<std::string>& extra_env = {}) {
    int out[2], err[2];
    BOOST_REQUIRE(pipe(out) == 0 && pipe(err) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pid_, program.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    BOOST_REQUIRE_MESSAGE(rc == 0, "cannot start " << program);
    started_ = clock_type::now();
  }
  ~child() {
    if (pid_ > 0 && status_ < 0) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  /// Reads output until `text` appears on stderr, the process ends, or `timeout`.
  bool wait_stderr(const std::string& text, std::chrono::milliseconds timeout) {
    const auto end = clock_type::now() + timeout;
    while (err_.find(text) == std::string::npos) {
      if (clock_type::now() >= end || !pump(end)) return err_.find(text) != std::string::npos;
    }
    return true;
  }

  /// Waits for the exit (reading output meanwhile); -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout) {
    const auto end = clock_type::now() + timeout;
    while (pump(end)) {
    }
    // Both pipes are at EOF (or time is up): reap, still bounded.
    while (status_ < 0) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        ended_ = clock_type::now();
        break;
      }
      if (clock_type::now() >= end) return -1;
      std::this_thread::sleep_for(10ms);
    }
    return status_;
  }

  void signal(int sig) { kill(pid_, sig); }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  std::chrono::milliseconds ran_for() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(ended_ - started_);
  }

 private:
  // One poll round; false when both pipes are closed or time is up.
  bool pump(clock_type::time_point end) {
    if (out_fd_ < 0 && err_fd_ < 0) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now());
    if (left <= 0ms) return false;
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 100))) < 0) return false;
    read_from(fds[0], out_fd_, out_);
    read_from(fds[1], err_fd_, err_);
    return true;
  }
  static void read_from(const pollfd& p, int& fd, std::string& to) {
    if (fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) return;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      to.append(buf, static_cast<std::size_t>(n));
    } else {
      close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  int status_ = -1;
  std::string out_, err_;
  clock_type::time_point started_, ended_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

std::string read_demo(const std::string& name) {
  std::ifstream f(demo_dir + "/" + name, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Subscribe, then a stream that sends one keep-alive and stays silent for a
// minute; Unsubscribe answered.
ews::testing::scenario silent_stream() {
  using namespace ews::testing;
  scenario s;
  exchange sub;
  sub.expect.operation = "Subscribe";
  sub.respond = soap_response(read_demo("subscribe.response.xml"));
  s.exchanges.push_back(sub);
  exchange stream;
  stream.expect.operation = "GetStreamingEvents";
  stream.respond = streaming_response({chunk{read_demo("keepalive.xml"), 0ms, "", false}}, ending::hold);
  stream.respond.hold_for = 60s;
  s.exchanges.push_back(stream);
  exchange unsub;
  unsub.expect.operation = "Unsubscribe";
  unsub.respond = soap_response(read_demo("unsubscribe.response.xml"));
  s.exchanges.push_back(unsub);
  return s;
}

std::uint16_t closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool is_contract_line(const std::string& l) {
  for (const char* t : {"{\"type\":\"item\",", "{\"type\":\"gone\",", "{\"type\":\"gap\",", "{\"type\":\"error\","})
    if (l.rfind(t, 0) == 0 && l.back() == '}') return true;
  return false;
}


std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// ISO-8601 UTC of now, as a server writes DateTimeReceived.
std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

const std::string secret_value = "S3cret-pa55-NEVER-print";

// The demo's whole contract, on the HTTP engine `args` picks; returns stderr.
std::string check_demo(const std::vector<std::string>& args) {
  child p(listen_bin, args);
  const int status = p.wait_exit(60s);
  BOOST_TEST_INFO("stderr:\n" << p.err() << "\nstdout:\n" << p.out());
  BOOST_TEST(status == 0);
  const auto lines = lines_of(p.out());
  for (const auto& l : lines) BOOST_TEST(is_contract_line(l), l);
  BOOST_TEST(count_of(p.out(), "{\"type\":\"item\",") == 3u);
  BOOST_TEST(count_of(p.out(), "{\"type\":\"gone\",") == 1u);
  BOOST_TEST(count_of(p.out(), "{\"type\":\"error\",") == 0u);
  // The first recorded mail, field by field as the contract names them.
  BOOST_TEST(p.out().find(
                 "{\"type\":\"item\",\"mailbox\":\"alice@example.test\","
                 "\"folder_id\":\"AAAAAOAkrrjUqXBLg6exWUisHu4BAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAI=\","
                 "\"event\":\"NewMail\","
                 "\"item_id\":\"AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=\","
                 "\"change_key\":\"AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg==\",\"subject\":\"EWS streaming test 1\","
                 "\"from\":\"bob@sender.test\",\"received\":\"2026-11-22T17:54:23Z\",\"size\":2778}") !=
             std::string::npos);
  BOOST_TEST(p.out().find("{\"type\":\"gone\",\"mailbox\":\"alice@example.test\",\"item_id\":"
                          "\"AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAIAAAM=\","
                          "\"reason\":\"ErrorItemNotFound\"}") != std::string::npos);
  BOOST_TEST(p.out().find("EWS streaming test 4 (queued while disconnected)") != std::string::npos);
  BOOST_TEST(p.err().find("renewed") != std::string::npos);
  BOOST_TEST(p.err().find("played out") != std::string::npos);
  return p.err();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ews_listen_process)

BOOST_AUTO_TEST_CASE(demo_shows_items_renewal_and_gone_then_exits_0) { check_demo({}); }

BOOST_AUTO_TEST_CASE(demo_on_the_asio_engine_is_the_same) {
  // The engine names itself at log level info: the flag must reach the transport.
  const std::string err = check_demo({"--http-engine", "asio", "--log-level", "info"});
  BOOST_TEST(err.find("HTTP engine: asio, 2 thread(s)") != std::string::npos, err);
  BOOST_TEST(err.find("HTTP engine: cpprestsdk") == std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(count_stops_after_exactly_n_items) {
  child p(listen_bin, {"--count", "2"});
  BOOST_TEST(p.wait_exit(60s) == 0, p.err());
  BOOST_TEST(count_of(p.out(), "{\"type\":\"item\",") == 2u, p.out());
  BOOST_TEST(p.out().find("EWS streaming test 4") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigint_during_the_demo_exits_0) {
  child p(listen_bin, {});
  BOOST_TEST_REQUIRE(p.wait_stderr("connected", 20s), p.err());
  p.signal(SIGINT);
  BOOST_TEST(p.wait_exit(10s) == 0, p.err());
  BOOST_TEST(p.err().find("SIGINT received") != std::string::npos, p.err());
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_a_message) {
  const std::vector<std::vector<std::string>> cases = {
      {"--count", "many"},
      {"--event", "Arrived"},
      {"--url", "https://mail.example.com/EWS/Exchange.asmx", "--user", "u"},
      {"--url", "https://h/EWS/Exchange.asmx", "--bearer-token", "t", "--user", "u", "--password", "p"},
      {"--no-such-flag"},
      {"--url", "ftp://mail.example.com/EWS/Exchange.asmx"},
      {"--url", "https://h/EWS/Exchange.asmx", "--user", "u", "--password-env", "EWS_SURELY_UNSET_VARIABLE"},
  };
  for (const auto& args : cases) {
    child p(listen_bin, args);
    BOOST_TEST(p.wait_exit(10s) == 2, args.front());
    BOOST_TEST(lines_of(p.err()).size() == 1u, p.err());
    BOOST_TEST(p.out().empty());
  }
}

BOOST_AUTO_TEST_CASE(plain_http_to_a_remote_host_is_refused_before_any_request) {
  child p(listen_bin, {"--url", "http://mail.example.com/EWS/Exchange.asmx", "--user", "u", "--password", "p"});
  BOOST_TEST(p.wait_exit(10s) == 2);
  BOOST_TEST(p.err().find("--allow-insecure-http") != std::string::npos, p.err());
}

BOOST_AUTO_TEST_CASE(closed_port_exits_1_with_one_sentence) {
  const auto url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/EWS/Exchange.asmx";
  child p(listen_bin, {"--url", url, "--user", "alice@example.test", "--password-env", "EWS_E2E_PW"},
          {"EWS_E2E_PW=" + secret_value});
  BOOST_TEST(p.wait_exit(30s) == 1);
  const auto err = lines_of(p.err());
  BOOST_TEST_REQUIRE(err.size() == 1u, p.err());
  BOOST_TEST(err[0].find("could not reach") != std::string::npos, err[0]);
  BOOST_TEST(p.err().find(secret_value) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(refused_credentials_exit_1) {
  ews::testing::scenario s;
  ews::testing::exchange e;
  e.expect.operation = "Subscribe";
  e.respond.status = 401;
  e.respond.headers.push_back({"WWW-Authenticate", "Basic realm=\"ews\""});
  s.exchanges.push_back(e);
  ews::testing::replay_server server(s);
  child p(listen_bin, {"--url", server.url(), "--user", "alice@example.test", "--password-env", "EWS_E2E_PW"},
          {"EWS_E2E_PW=" + secret_value});
  BOOST_TEST(p.wait_exit(30s) == 1);
  const auto err = lines_of(p.err());
  BOOST_TEST_REQUIRE(err.size() == 1u, p.err());
  BOOST_TEST(err[0].find("refused the credentials") != std::string::npos, err[0]);
  BOOST_TEST(p.out().find(secret_value) == std::string::npos);
  BOOST_TEST(p.err().find(secret_value) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigterm_on_a_silent_stream_exits_0_within_2_s_and_unsubscribes) {
  ews::testing::replay_server server(silent_stream());
  child p(listen_bin, {"--url", server.url(), "--user", "alice@example.test", "--password-env", "EWS_E2E_PW"},
          {"EWS_E2E_PW=" + secret_value});
  BOOST_TEST_REQUIRE(p.wait_stderr("connected", 20s), p.err());
  BOOST_TEST_REQUIRE(server.wait_for_responses("GetStreamingEvents", 1, 10s));
  const auto sent = clock_type::now();
  p.signal(SIGTERM);
  BOOST_TEST(p.wait_exit(10s) == 0, p.err());
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - sent).count();
  BOOST_TEST(took < 2000);
  BOOST_TEST(server.count("Unsubscribe") == 1u);
}

BOOST_AUTO_TEST_CASE(no_secret_at_log_level_trace) {
  ews::testing::replay_server server(silent_stream());
  child p(listen_bin,
          {"--url", server.url(), "--user", "alice@example.test", "--password-env", "EWS_E2E_PW", "--log-level",
           "trace", "--duration", "2"},
          {"EWS_E2E_PW=" + secret_value});
  BOOST_TEST(p.wait_exit(30s) == 0, p.err());
  BOOST_TEST(p.err().find("Subscribe") != std::string::npos);  // trace really traced
  BOOST_TEST(p.out().find(secret_value) == std::string::npos);
  BOOST_TEST(p.err().find(secret_value) == std::string::npos);
  // Nor the Basic header made of it: base64("alice@example.test:" + secret).
  BOOST_TEST(p.err().find("YWxpY2VAZXhhbXBsZS50ZXN0OlMzY3JldC1wYTU1LU5FVkVSLXByaW50") == std::string::npos);
  // The request really carried it (so the check above means something).
  const auto received = server.received();
  BOOST_TEST_REQUIRE(!received.empty());
  bool sent_basic = false;
  for (const auto& h : received.front().headers)
    if (h.name == "Authorization") sent_basic = h.value.find("Basic ") == 0;
  BOOST_TEST(sent_basic);
}

BOOST_AUTO_TEST_CASE(checkpoint_restart_reports_a_gap_for_the_downtime) {
  const fs::path dir = fs::temp_directory_path() / ("ews-listen-e2e-" + std::to_string(getpid()));
  fs::remove_all(dir);
  for (int run = 0; run < 2; ++run) {
    ews::testing::replay_server server(silent_stream());
    child p(listen_bin, {"--url", server.url(), "--user", "alice@example.test", "--password", "pw", "--checkpoint",
                         dir.string(), "--duration", "3"});
    BOOST_TEST(p.wait_exit(30s) == 0, p.err());
    const bool gap = p.out().find("{\"type\":\"gap\",\"mailbox\":\"alice@example.test\",\"folder_id\":\"inbox\","
                                  "\"since\":\"") != std::string::npos &&
                     p.out().find("\"reason\":\"Restart\"}") != std::string::npos;
    BOOST_TEST(gap == (run == 1), p.out());
  }
  fs::remove_all(dir);
}


// gromox after a restart: the stream answers ErrorInvalidSubscription, the
// listener subscribes again and reports a gap; --reconcile runs one
// SyncFolderItems pass, which finds the mail that the renewed stream also
// announces: it is printed once.
BOOST_AUTO_TEST_CASE(reconcile_after_a_gap_prints_each_item_once) {
  using namespace ews::testing;
  const std::string fixtures = std::string(EWS_TEST_DIR) + "/fixtures/";
  scenario s;
  exchange sub;
  sub.expect.operation = "Subscribe";
  sub.respond = soap_response(read_demo("subscribe.response.xml"));
  s.exchanges.push_back(sub);
  s.exchanges.push_back(sub);  // the re-subscription after the error
  exchange dead;
  dead.expect.operation = "GetStreamingEvents";
  dead.respond = streaming_response(
      {chunk{read_file(fixtures + "scenarios/gromox-invalid-subscription/stream.chunk-01.xml"), 0ms, "", false}},
      ending::hold);
  dead.respond.hold_for = 60s;
  s.exchanges.push_back(dead);
  exchange renewed;
  renewed.expect.operation = "GetStreamingEvents";
  renewed.respond = streaming_response({chunk{read_demo("keepalive.xml"), 0ms, "", false},
                                        chunk{read_demo("newmail-1.xml"), 300ms, "", false}},
                                       ending::hold);
  renewed.respond.hold_for = 60s;
  s.exchanges.push_back(renewed);
  // The recorded initial SyncFolderItems (mail 1), received "now" so the
  // first pass's received-since filter keeps it.
  std::string sync = read_file(fixtures + "wire/gromox-captures/05-syncfolderitems-initial.response.xml");
  for (auto p = sync.find("2026-11-22T17:54:23Z"); p != std::string::npos; p = sync.find("2026-11-22T17:54:23Z"))
    sync.replace(p, 20, now_iso());
  exchange poll;
  poll.expect.operation = "SyncFolderItems";
  poll.respond = soap_response(sync);
  s.exchanges.push_back(poll);
  replay_server server(s);
  const std::string item = read_demo("getitem-1.response.xml");
  server.on("GetItem", [item](const received_request&) { return soap_response(item); });
  server.on("Unsubscribe", [](const received_request&) { return soap_response(read_demo("unsubscribe.response.xml")); });

  child p(listen_bin, {"--url", server.url(), "--user", "alice@example.test", "--password", "pw", "--reconcile",
                       "--duration", "4"});
  BOOST_TEST(p.wait_exit(30s) == 0, p.err());
  BOOST_TEST(server.count("SyncFolderItems") == 1u);
  BOOST_TEST(count_of(p.out(), "\"reason\":\"ErrorInvalidSubscription\"}") == 1u, p.out());
  BOOST_TEST(count_of(p.out(), "{\"type\":\"item\",") == 1u, p.out());
  BOOST_TEST(count_of(p.out(), "\"subject\":\"EWS streaming test 1\"") == 1u);
  // The pass really handed the mail over (the fetcher's dedupe then kept it single).
  BOOST_TEST(p.err().find("inbox: 1 change(s) handed to the fetcher") != std::string::npos, p.err());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ews_sync_process)

BOOST_AUTO_TEST_CASE(once_prints_create_lines) {
  auto s = ews::testing::load_scenario(std::string(EWS_TEST_DIR) + "/fixtures/scenarios/sync-polling-loop");
  BOOST_TEST_REQUIRE(static_cast<bool>(s));
  ews::testing::replay_server server(*s);
  child p(sync_bin, {"--url", server.url(), "--user", "alice@example.test", "--password", "pw", "--once"});
  BOOST_TEST(p.wait_exit(30s) == 0, p.err());
  const auto lines = lines_of(p.out());
  BOOST_TEST_REQUIRE(lines.size() >= 1u, p.out());
  for (const auto& l : lines) BOOST_TEST(l.rfind("{\"type\":\"create\",\"mailbox\":\"alice@example.test\",", 0) == 0, l);
  BOOST_TEST(p.out().find("\"item_id\":\"AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8"
                          "VlcAAAADAAAAAAM=\"") != std::string::npos);
  BOOST_TEST(server.count("SyncFolderItems") == 1u);
}

BOOST_AUTO_TEST_CASE(usage_error_exits_2) {
  child p(sync_bin, {"--once", "--interval", "5", "--url", "https://h/EWS/Exchange.asmx"});
  BOOST_TEST(p.wait_exit(10s) == 2);
  BOOST_TEST(!p.err().empty());
}

BOOST_AUTO_TEST_SUITE_END()
