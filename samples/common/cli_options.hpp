#pragma once
// Command-line contract of the sample programs (ews-listen, ews-sync). Parsing
// is a pure function so every rule of the contract is unit-tested; a usage
// error is reported before any request is made (exit status 2).

#include <ews/soap/transport.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ews::samples {

/// A usage error: the message is one sentence for stderr; exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Exactly one way to authenticate, as given on the command line. Secrets are
/// referenced (environment variable, file) or, for --password/--bearer-token,
/// held here only until the credential provider takes them.
struct auth_options {
  enum class method { none, basic, bearer, oauth_client_credentials };
  method kind = method::none;
  std::string user;
  std::string password, password_env, password_file;
  std::string bearer_token, bearer_token_file;
  std::string token_url, client_id, client_secret_env, client_secret_file;
  std::string scope = "https://outlook.office365.com/.default";
};

struct common_options {
  std::string url;  ///< empty: demo mode (ews-listen only)
  auth_options auth;
  std::vector<std::string> mailboxes;  ///< empty: the user's own mailbox
  std::vector<std::string> folders;    ///< distinguished names or folder ids
  std::string checkpoint_dir;
  std::string ca_file;
  bool allow_insecure_http = false;
  ews::soap::http_engine http_engine = ews::soap::http_engine::cpprestsdk;
  std::string log_level = "off";  ///< library messages; the program's own status lines always show
  bool help = false;
};

struct listen_options {
  common_options common;
  std::vector<std::string> events;  ///< EWS event names without "Event"
  std::optional<long> count;
  std::optional<long> duration_seconds;
  int connection_timeout_minutes = 30;
  int heartbeat_timeout_seconds = 90;
  int batch_size = 0;  ///< 0: the library default
  bool reconcile = false;
};

struct sync_options {
  common_options common;
  bool once = false;
  int interval_seconds = 60;
};

/// Parses ews-listen's arguments (argv without the program name). Throws usage_error.
listen_options parse_listen_args(const std::vector<std::string>& args);
/// Parses ews-sync's arguments. Throws usage_error.
sync_options parse_sync_args(const std::vector<std::string>& args);

extern const char* const listen_usage;
extern const char* const sync_usage;

}  // namespace ews::samples
