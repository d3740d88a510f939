#include "http/cert_store.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace ews::soap::detail {
namespace {

std::string openssl_error_text() {
  char buf[256] = {};
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

result<std::shared_ptr<cert_store>> cert_store::create(const std::string& ca_file) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return make_error(errc::tls_failure, "cannot allocate a certificate store");
  std::shared_ptr<cert_store> holder(new cert_store(store));
  if (X509_STORE_set_default_paths(store) != 1) {
    return make_error(errc::tls_failure, "cannot load the system certificate store: " + openssl_error_text());
  }
  if (!ca_file.empty() && X509_STORE_load_locations(store, ca_file.c_str(), nullptr) != 1) {
    return make_error(errc::tls_failure, "cannot load CA file " + ca_file + ": " + openssl_error_text());
  }
  ERR_clear_error();
  return holder;
}

cert_store::~cert_store() { X509_STORE_free(store_); }

void cert_store::configure(SSL_CTX* ctx) const {
  SSL_CTX_set1_cert_store(ctx, store_);  // takes its own reference
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Peer and host name verification stay as cpprestsdk sets them per
  // connection (verify_peer plus an RFC 2818 host check).
}

}  // namespace ews::soap::detail
