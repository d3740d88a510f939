#include "http/asio_connection.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ews::soap::detail {
asio_connection::asio_connection(boost::asio::io_context& io, const parsed_url& url, boost::asio::ssl::context* tls)
    : host_(url.host), socket_(io), timer_(io) {
  if (url.scheme == "https" && tls != nullptr) tls_.emplace(socket_, *tls);
}

bool asio_connection::prepare_tls() {
  if (!tls_) return true;
  SSL* ssl = tls_->native_handle();
  // Verification is always on: the peer's chain against the shared store,
  // and the host name (or IP) against the certificate.
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  boost::system::error_code ec;
  boost::asio::ip::make_address(host_, ec);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str()) == 1;
  if (SSL_set_tlsext_host_name(ssl, host_.c_str()) != 1) return false;
  return X509_VERIFY_PARAM_set1_host(param, host_.c_str(), host_.size()) == 1;
}

void asio_connection::close() noexcept {
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace ews::soap::detail
