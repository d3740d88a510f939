#include "cli_options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <map>
#include <string_view>

namespace ews::samples {

const char* const listen_usage =
    "usage: ews-listen [--url URL] [AUTH] [--mailbox SMTP]... [--folder NAME]... [--event TYPE]...\n"
    "                  [--count N] [--duration SECONDS] [--connection-timeout MINUTES]\n"
    "                  [--heartbeat-timeout SECONDS] [--batch-size N] [--checkpoint DIR]\n"
    "                  [--reconcile] [--ca-file PEM] [--allow-insecure-http] [--http-engine ENGINE]\n"
    "                  [--log-level LEVEL]\n"
    "AUTH:  --user U (--password P | --password-env VAR | --password-file FILE)\n"
    "     | --bearer-token T | --bearer-token-file FILE\n"
    "     | --oauth-token-url URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE) [--scope S]\n"
    "ENGINE: cpprestsdk (the default) | asio (Boost.Beast/Asio: less CPU, true back-pressure)\n"
    "Without --url, runs a demo against a built-in replay server.\n";

const char* const sync_usage =
    "usage: ews-sync --url URL AUTH [--mailbox SMTP] [--folder NAME] [--checkpoint DIR]\n"
    "                [--once | --interval SECONDS] [--ca-file PEM] [--allow-insecure-http] [--http-engine ENGINE]\n"
    "                [--log-level LEVEL]\n"
    "AUTH as for ews-listen.\n";

namespace {

long parse_number(const std::string& flag, const std::string& text, long min, long max) {
  long value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty())
    throw usage_error(flag + " needs a whole number, got '" + text + "'");
  if (value < min || value > max)
    throw usage_error(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) +
                      ", got " + text);
  return value;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    if (comma > start) parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

// Canonical EWS event name for a user spelling ("newmail", "NewMailEvent").
std::string canonical_event(const std::string& name) {
  static constexpr std::string_view known[] = {"NewMail", "Created", "Modified", "Moved", "Copied", "Deleted"};
  std::string lowered;
  for (char c : name) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered.size() > 5 && lowered.compare(lowered.size() - 5, 5, "event") == 0) lowered.resize(lowered.size() - 5);
  for (auto k : known) {
    std::string lk;
    for (char c : k) lk += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lk == lowered) return std::string(k);
  }
  throw usage_error("unknown event '" + name + "' (expected NewMail, Created, Modified, Moved, Copied or Deleted)");
}

// Walks argv, handing each flag's value to its handler.
class arg_reader {
 public:
  using handler = std::function<void(const std::string& flag, const std::string& value)>;
  using toggle = std::function<void()>;

  void value(const std::string& flag, handler h) { values_[flag] = std::move(h); }
  void flag(const std::string& flag, toggle t) { flags_[flag] = std::move(t); }

  void run(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::string name = args[i];
      std::optional<std::string> inline_value;
      if (const auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      if (auto f = flags_.find(name); f != flags_.end() && !inline_value) {
        f->second();
      } else if (auto v = values_.find(name); v != values_.end()) {
        if (!inline_value && i + 1 >= args.size()) throw usage_error(name + " needs a value");
        v->second(name, inline_value ? *inline_value : args[++i]);
      } else {
        throw usage_error("unknown option '" + args[i] + "'");
      }
    }
  }

 private:
  std::map<std::string, handler> values_;
  std::map<std::string, toggle> flags_;
};

void set_once(std::string& slot, const std::string& flag, const std::string& value) {
  if (value.empty()) throw usage_error(flag + " needs a non-empty value");
  if (!slot.empty()) throw usage_error(flag + " given twice");
  slot = value;
}

void add_common(arg_reader& reader, common_options& o) {
  auto& a = o.auth;
  reader.value("--url", [&](auto& f, auto& v) { set_once(o.url, f, v); });
  reader.value("--user", [&](auto& f, auto& v) { set_once(a.user, f, v); });
  reader.value("--password", [&](auto& f, auto& v) { set_once(a.password, f, v); });
  reader.value("--password-env", [&](auto& f, auto& v) { set_once(a.password_env, f, v); });
  reader.value("--password-file", [&](auto& f, auto& v) { set_once(a.password_file, f, v); });
  reader.value("--bearer-token", [&](auto& f, auto& v) { set_once(a.bearer_token, f, v); });
  reader.value("--bearer-token-file", [&](auto& f, auto& v) { set_once(a.bearer_token_file, f, v); });
  reader.value("--oauth-token-url", [&](auto& f, auto& v) { set_once(a.token_url, f, v); });
  reader.value("--client-id", [&](auto& f, auto& v) { set_once(a.client_id, f, v); });
  reader.value("--client-secret-env", [&](auto& f, auto& v) { set_once(a.client_secret_env, f, v); });
  reader.value("--client-secret-file", [&](auto& f, auto& v) { set_once(a.client_secret_file, f, v); });
  reader.value("--scope", [&](auto& f, auto& v) {
    if (v.empty()) throw usage_error(f + " needs a non-empty value");
    a.scope = v;
  });
  reader.value("--mailbox", [&](auto& f, auto& v) {
    for (auto& m : split_commas(v)) o.mailboxes.push_back(m);
    if (v.empty()) throw usage_error(f + " needs a non-empty value");
  });
  reader.value("--folder", [&](auto& f, auto& v) {
    for (auto& m : split_commas(v)) o.folders.push_back(m);
    if (v.empty()) throw usage_error(f + " needs a non-empty value");
  });
  reader.value("--checkpoint", [&](auto& f, auto& v) { set_once(o.checkpoint_dir, f, v); });
  reader.value("--ca-file", [&](auto& f, auto& v) { set_once(o.ca_file, f, v); });
  reader.flag("--allow-insecure-http", [&] { o.allow_insecure_http = true; });
  reader.value("--http-engine", [&](auto& f, auto& v) {
    if (v == "cpprestsdk") o.http_engine = ews::soap::http_engine::cpprestsdk;
    else if (v == "asio") o.http_engine = ews::soap::http_engine::asio;
    else throw usage_error(f + " must be cpprestsdk or asio; got '" + v + "'");
  });
  reader.value("--log-level", [&](auto& f, auto& v) {
    static constexpr std::string_view levels[] = {"trace", "debug", "info", "warning", "error", "off"};
    if (std::find(std::begin(levels), std::end(levels), v) == std::end(levels))
      throw usage_error(f + " must be one of trace, debug, info, warning, error, off; got '" + v + "'");
    o.log_level = v;
  });
  reader.flag("--help", [&] { o.help = true; });
  reader.flag("-h", [&] { o.help = true; });
}

// Exactly one AUTH method, complete; decided after all flags are read.
void settle_auth(auth_options& a) {
  const bool basic = !a.user.empty() || !a.password.empty() || !a.password_env.empty() || !a.password_file.empty();
  const bool bearer = !a.bearer_token.empty() || !a.bearer_token_file.empty();
  const bool oauth = !a.token_url.empty() || !a.client_id.empty() || !a.client_secret_env.empty() ||
                     !a.client_secret_file.empty();
  if (basic + bearer + oauth > 1)
    throw usage_error("give one authentication method: --user/--password..., --bearer-token... or --oauth-token-url...");
  if (basic) {
    if (a.user.empty()) throw usage_error("--password options need --user");
    const int sources = !a.password.empty() + !a.password_env.empty() + !a.password_file.empty();
    if (sources == 0) throw usage_error("--user needs --password, --password-env or --password-file");
    if (sources > 1) throw usage_error("give one of --password, --password-env, --password-file");
    a.kind = auth_options::method::basic;
  } else if (bearer) {
    if (!a.bearer_token.empty() && !a.bearer_token_file.empty())
      throw usage_error("give one of --bearer-token, --bearer-token-file");
    a.kind = auth_options::method::bearer;
  } else if (oauth) {
    if (a.token_url.empty() || a.client_id.empty())
      throw usage_error("OAuth needs both --oauth-token-url and --client-id");
    const int sources = !a.client_secret_env.empty() + !a.client_secret_file.empty();
    if (sources != 1) throw usage_error("OAuth needs exactly one of --client-secret-env, --client-secret-file");
    a.kind = auth_options::method::oauth_client_credentials;
  }
}

}  // namespace

listen_options parse_listen_args(const std::vector<std::string>& args) {
  listen_options o;
  arg_reader reader;
  add_common(reader, o.common);
  reader.value("--event", [&](auto& f, auto& v) {
    const auto parts = split_commas(v);
    if (parts.empty()) throw usage_error(f + " needs a non-empty value");
    for (auto& e : parts) o.events.push_back(canonical_event(e));
  });
  reader.value("--count", [&](auto& f, auto& v) { o.count = parse_number(f, v, 1, 1'000'000'000); });
  reader.value("--duration", [&](auto& f, auto& v) { o.duration_seconds = parse_number(f, v, 1, 315'360'000); });
  reader.value("--connection-timeout",
               [&](auto& f, auto& v) { o.connection_timeout_minutes = static_cast<int>(parse_number(f, v, 1, 30)); });
  reader.value("--heartbeat-timeout",
               [&](auto& f, auto& v) { o.heartbeat_timeout_seconds = static_cast<int>(parse_number(f, v, 1, 3600)); });
  reader.value("--batch-size", [&](auto& f, auto& v) { o.batch_size = static_cast<int>(parse_number(f, v, 1, 1000)); });
  reader.flag("--reconcile", [&] { o.reconcile = true; });
  reader.run(args);
  if (o.common.help) return o;
  settle_auth(o.common.auth);
  if (o.common.url.empty() && o.common.auth.kind != auth_options::method::none)
    throw usage_error("authentication options need --url (without --url the demo runs on a built-in server)");
  if (o.common.folders.empty()) o.common.folders.push_back("inbox");
  if (o.events.empty()) o.events.push_back("NewMail");
  std::sort(o.events.begin(), o.events.end());
  o.events.erase(std::unique(o.events.begin(), o.events.end()), o.events.end());
  return o;
}

sync_options parse_sync_args(const std::vector<std::string>& args) {
  sync_options o;
  arg_reader reader;
  add_common(reader, o.common);
  bool interval_given = false;
  reader.flag("--once", [&] { o.once = true; });
  reader.value("--interval", [&](auto& f, auto& v) {
    o.interval_seconds = static_cast<int>(parse_number(f, v, 1, 86'400));
    interval_given = true;
  });
  reader.run(args);
  if (o.common.help) return o;
  settle_auth(o.common.auth);
  if (o.common.url.empty()) throw usage_error("ews-sync needs --url");
  if (o.once && interval_given) throw usage_error("give --once or --interval, not both");
  if (o.common.mailboxes.size() > 1) throw usage_error("ews-sync takes at most one --mailbox");
  if (o.common.folders.size() > 1) throw usage_error("ews-sync takes at most one --folder");
  if (o.common.folders.empty()) o.common.folders.push_back("inbox");
  return o;
}

}  // namespace ews::samples
