#pragma once
// Private: the one X509_STORE every TLS connection of a transport verifies
// against. Without sharing, each connection parses the whole system CA
// bundle again (about 25 ms CPU and 900 KB per connection, measured).

#include <ews/result.hpp>

#include <memory>
#include <string>

typedef struct x509_store_st X509_STORE;
typedef struct ssl_ctx_st SSL_CTX;

namespace ews::soap::detail {

class cert_store {
 public:
  /// The system trust store plus the PEM certificates in `ca_file` (if not
  /// empty). errc::tls_failure when the file cannot be loaded: a typo in the
  /// CA path must not silently fall back to the system store alone.
  static result<std::shared_ptr<cert_store>> create(const std::string& ca_file);

  ~cert_store();
  cert_store(const cert_store&) = delete;
  cert_store& operator=(const cert_store&) = delete;

  /// Makes `ctx` verify against this store and require TLS 1.2 or newer.
  void configure(SSL_CTX* ctx) const;

 private:
  explicit cert_store(X509_STORE* store) : store_(store) {}
  X509_STORE* store_;
};

}  // namespace ews::soap::detail
