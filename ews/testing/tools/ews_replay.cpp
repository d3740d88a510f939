// ews-replay: serve a recorded scenario, or record one through a proxy.
//
//   ews-replay serve DIR [--port N] [--tls-cert PEM --tls-key PEM]
//   ews-replay record --upstream URL --out DIR [--port N] [--ca-file PEM]
//                     [--allow-insecure-http]
//
// Prints the local URL on stdout and runs until SIGINT or SIGTERM.
#include <ews/error.hpp>
#include <ews/testing/recorder.hpp>
#include <ews/testing/replay_server.hpp>

#include <charconv>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include <pthread.h>

namespace {

constexpr const char* usage =
    "usage: ews-replay serve DIR [--port N] [--tls-cert PEM --tls-key PEM]\n"
    "       ews-replay record --upstream URL --out DIR [--port N] [--ca-file PEM] [--allow-insecure-http]\n";

int usage_error(const std::string& what) {
  std::cerr << "ews-replay: " << what << "\n" << usage;
  return 2;
}

// Blocks SIGINT/SIGTERM in this thread (and so in every thread started
// after), then sigwait() receives them: no handler, no global state.
sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void wait_for_termination(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
}

bool parse_port(const std::string& s, std::uint16_t& port) {
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("missing command");
  const std::string command = argv[1];
  std::string dir;
  std::map<std::string, std::string> opts;
  bool allow_insecure = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--allow-insecure-http") {
      allow_insecure = true;
    } else if (a == "--port" || a == "--tls-cert" || a == "--tls-key" || a == "--upstream" || a == "--out" ||
               a == "--ca-file") {
      if (i + 1 >= argc) return usage_error(a + " needs a value");
      opts[a] = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (!a.empty() && a[0] != '-' && dir.empty() && command == "serve") {
      dir = a;
    } else {
      return usage_error("unexpected argument '" + a + "'");
    }
  }
  std::uint16_t port = 0;
  if (opts.count("--port") != 0 && !parse_port(opts["--port"], port)) return usage_error("bad --port");

  const sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    if (command == "serve") {
      if (dir.empty()) return usage_error("serve needs a scenario folder");
      if (opts.count("--tls-cert") != opts.count("--tls-key"))
        return usage_error("--tls-cert and --tls-key go together");
      auto s = ews::testing::load_scenario(dir);
      if (!s) {
        std::cerr << "ews-replay: " << s.error().message << "\n";
        return 1;
      }
      ews::testing::server_options so;
      so.port = port;
      so.tls_cert_file = opts["--tls-cert"];
      so.tls_key_file = opts["--tls-key"];
      ews::testing::replay_server server(std::move(*s), so);
      std::cout << server.url() << std::endl;
      wait_for_termination(signals);
      server.stop();
      const auto v = server.verify();
      std::cerr << "ews-replay: " << server.count("") << " requests; " << v.report() << (v.ok ? "\n" : "");
      return 0;
    }
    if (command == "record") {
      if (opts["--upstream"].empty() || opts["--out"].empty())
        return usage_error("record needs --upstream and --out");
      ews::soap::http_transport_options to;
      to.ca_file = opts["--ca-file"];
      to.allow_insecure_http = allow_insecure;
      ews::testing::recorder_options ro;
      ro.upstream = opts["--upstream"];
      ro.port = port;
      ews::testing::recorder rec(ro, std::shared_ptr<ews::soap::transport>(ews::soap::make_http_transport(to)));
      std::cout << rec.url() << std::endl;
      wait_for_termination(signals);
      rec.stop();
      const auto s = rec.recorded();
      if (auto st = ews::testing::save_scenario(s, opts["--out"]); !st) {
        std::cerr << "ews-replay: " << st.error().message << "\n";
        return 1;
      }
      std::cerr << "ews-replay: recorded " << s.exchanges.size() << " exchanges into " << opts["--out"] << "\n";
      return 0;
    }
  } catch (const ews::error& e) {
    std::cerr << "ews-replay: " << e.what() << "\n";
    return 1;
  }
  return usage_error("unknown command '" + command + "'");
}
