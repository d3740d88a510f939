#pragma once
// What ews-listen and ews-sync share beyond flag parsing: credentials from
// the AUTH flags, the plain-http rule, stderr logging, stdout JSON Lines, and
// the one sentence a newcomer reads when something fatal happens.

#include "cli_options.hpp"

#include <ews/credentials.hpp>
#include <ews/error.hpp>
#include <ews/logging.hpp>
#include <ews/soap/transport.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace ews::samples {

/// Exit statuses of the contract.
inline constexpr int exit_ok = 0;
inline constexpr int exit_fatal = 1;
inline constexpr int exit_usage = 2;

/// Refuses (usage_error) a URL that is not http(s)://host..., and a plain
/// http:// URL to a host other than loopback unless `allow_insecure_http`:
/// decided before any request, so it is a usage error (exit 2).
void check_url(const std::string& url, bool allow_insecure_http);

/// The credential provider the AUTH flags ask for (null for none). Secrets
/// from the environment or files are read here; a missing variable or
/// unreadable file is a usage_error naming it (never the value). `http`
/// carries OAuth token requests.
std::shared_ptr<credential_provider> make_credentials(const auth_options& auth,
                                                      std::shared_ptr<soap::transport> http);

/// "trace".."off" as parsed by cli_options.
log_level parse_log_level(const std::string& name);

/// Writes "<program>: <text>\n" to stderr, one line at a time across threads.
class status_output {
 public:
  explicit status_output(std::string program) : program_(std::move(program)) {}
  void say(std::string_view text);
  /// A logger that prints library messages at `level` and above.
  logger make_logger(log_level level);

 private:
  std::string program_;
  std::mutex mutex_;
};

/// Writes whole lines to stdout and flushes each, across threads.
class line_output {
 public:
  void write(const std::string& line);

 private:
  std::mutex mutex_;
};

/// One sentence a newcomer can act on, for an error that ends the program.
std::string explain_fatal(const error_info& e, const std::string& url);

}  // namespace ews::samples
