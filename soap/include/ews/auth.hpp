#pragma once
/// @file
/// Ready-made credential providers. Exchange Online takes OAuth 2.0 bearer
/// tokens only; Exchange Server takes Basic, NTLM or Negotiate (Kerberos).
///
/// Which factory each command-line AUTH choice maps to:
///
///     --user U --password P            make_basic_credentials(U, secret(P))
///     --user U --password-env VAR      make_basic_credentials(U, secret::from_env(VAR).value())
///     --user U --password-file FILE    make_basic_credentials(U, secret::from_file(FILE).value())
///     --bearer-token T                 make_bearer_token(secret(T))
///     --bearer-token-file FILE         make_bearer_token(secret::from_file(FILE).value())
///     --oauth-token-url URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE) [--scope S]
///                                      make_client_credentials({URL, ID, secret, S, transport})
///
/// Every provider is thread-safe. No provider logs or puts a secret into an
/// error message.

#include <ews/clock.hpp>
#include <ews/credentials.hpp>
#include <ews/logging.hpp>
#include <ews/result.hpp>
#include <ews/secret.hpp>
#include <ews/soap/transport.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace ews {

/// HTTP Basic (RFC 7617): `Authorization: Basic base64(user ":" password)`,
/// both UTF-8 as given. A 401 is final (retrying the same password only
/// risks locking the account). Throws ews::error (errc::invalid_argument)
/// when `user` is empty or contains ':' or a control character.
std::shared_ptr<credential_provider> make_basic_credentials(std::string user, secret password);

/// A fixed bearer token (`Authorization: Bearer <token>`). A 401 is final:
/// nothing can refresh it. Throws ews::error (errc::invalid_argument) when
/// `token` is empty or not a single line.
std::shared_ptr<credential_provider> make_bearer_token(secret token);

/// A token with its lifetime, as a token source returns it.
struct access_token {
  secret value;
  /// When it stops being valid; nullopt: unknown (used until a 401).
  std::optional<clock::time_point> expires_at;
};

/// Produces a fresh token; called with the caller's context (its deadline
/// bounds the wait). An error is passed on (use errc::authentication for a
/// refusal).
using token_source = std::function<result<access_token>(const context& ctx)>;

struct token_cache_options {
  /// A token is renewed this long before it expires, so a request never
  /// leaves with a token that expires on the way.
  std::chrono::seconds expiry_skew = std::chrono::minutes(5);
  /// Time for expiry decisions; null: the steady clock.
  std::shared_ptr<clock> time;
  logger log;
};

/// Bearer tokens from `source`, cached until `expiry_skew` before they
/// expire, renewed on expiry and once after a 401. Concurrent callers that
/// find the token stale share one call of `source`.
std::shared_ptr<credential_provider> make_bearer_token(token_source source, token_cache_options options = {});

/// The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4), as Azure AD
/// (Entra ID) issues tokens for Exchange Online applications.
struct client_credentials_options {
  /// e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
  std::string token_url;
  std::string client_id;
  secret client_secret;
  std::string scope = "https://outlook.office365.com/.default";
  /// Carries the token requests (the same transport as EWS is fine).
  std::shared_ptr<soap::transport> http;
  /// Bound on one token request.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  token_cache_options cache;
};

/// POSTs grant_type=client_credentials to `token_url` and uses the
/// access_token it returns, cached as make_bearer_token(token_source) does.
/// An OAuth error answer becomes errc::authentication naming the error code
/// and description ("invalid_client: ..."); an answer that is not the
/// expected JSON becomes errc::authentication naming the HTTP status and
/// content type. Throws ews::error (errc::invalid_argument) for an empty
/// token_url, client_id or client_secret or a null transport.
std::shared_ptr<credential_provider> make_client_credentials(client_credentials_options options);

/// NTLM or Kerberos for Exchange Server, through GSSAPI (MIT Kerberos; NTLM
/// needs the gss-ntlmssp mechanism installed, Debian package gss-ntlmssp).
struct negotiate_options {
  enum class scheme {
    ntlm,       ///< `Authorization: NTLM ...` (gss-ntlmssp)
    negotiate,  ///< `Authorization: Negotiate ...` (SPNEGO: Kerberos, else NTLM)
  };
  scheme use = scheme::ntlm;
  /// "DOMAIN\user" or "user@domain". Empty: the process's default
  /// credentials (a Kerberos ticket from kinit or a keytab).
  std::string user;
  secret password;  ///< with `user`
  /// Target host for the service name HTTP@host; empty: the request's host.
  std::string service_host;
  logger log;
};

/// Each request starts a handshake (NTLM Type 1, or a Kerberos ticket); the
/// server's 401 challenge is answered by the retry service_client makes on
/// the same thread (NTLM Type 3).
///
/// Limitation: NTLM is bound to the TCP connection (IIS accepts the Type 3
/// only on the connection that got the challenge), and the cpprestsdk
/// transport does not keep one: measured, the retry travels on another
/// pooled connection in about half of the handshakes even with a single
/// thread. Kerberos (scheme::negotiate with a ticket) needs one leg and is
/// not affected. NTLM against IIS needs a transport that can pin a request
/// to a connection. Streams (GetStreamingEvents) are not supported with
/// NTLM. Throws ews::error (errc::authentication) when GSSAPI cannot acquire
/// credentials (e.g. the NTLM mechanism is not installed), naming the
/// mechanism, never the password.
std::shared_ptr<credential_provider> make_negotiate_credentials(negotiate_options options);

/// A token_source for the client-credentials grant, for applications that
/// want the token request without the provider around it.
token_source client_credentials_source(client_credentials_options options);

}  // namespace ews
