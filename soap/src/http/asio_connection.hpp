#pragma once
// Private: one client connection of the asio engine, plain TCP or TLS over
// it, plus its read buffer and its one inactivity timer. It holds no strand:
// the exchange using it binds every handler to its own strand, so a pooled
// connection can serve the next exchange on another strand.

#include "http/url.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <memory>
#include <optional>

namespace ews::soap::detail {

class asio_connection {
 public:
  /// An unconnected connection to `url`'s origin; TLS when `url` is https
  /// (then `tls` must be set: the transport's one context).
  asio_connection(boost::asio::io_context& io, const parsed_url& url, boost::asio::ssl::context* tls);
  asio_connection(const asio_connection&) = delete;
  asio_connection& operator=(const asio_connection&) = delete;

  /// Sets SNI and the certificate host name check for this connection's
  /// host (an IP address is checked against the certificate's IP entries,
  /// and sent without SNI, which must be a name). False on failure.
  bool prepare_tls();

  bool is_tls() const noexcept { return tls_.has_value(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>& tls() noexcept { return *tls_; }
  boost::asio::steady_timer& timer() noexcept { return timer_; }
  /// Bytes read from the socket and not parsed yet. Reused for every read.
  boost::beast::flat_buffer& buffer() noexcept { return buffer_; }

  /// Closes the socket: every pending operation on it ends at once.
  void close() noexcept;

  /// Calls `f(stream)` with the plain socket or the TLS stream.
  template <class F>
  decltype(auto) with_stream(F&& f) {
    if (tls_) return f(*tls_);
    return f(socket_);
  }

 private:
  std::string host_;  // for the TLS name check
  boost::asio::ip::tcp::socket socket_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace ews::soap::detail
