#include "http/asio_errors.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>

#include <string>

namespace ews::soap::detail {

error_info classify_asio_failure(const boost::system::error_code& ec, asio_step step, bool head_received) {
  namespace ae = boost::asio::error;
  namespace bh = boost::beast::http;
  const std::string detail = " (" + ec.message() + ", " + ec.category().name() + " " + std::to_string(ec.value()) + ")";
  switch (step) {
    case asio_step::connect:
      return make_error(errc::connect_failed, "cannot connect" + detail, true);
    case asio_step::handshake:
      return make_error(errc::tls_failure, "TLS handshake or certificate verification failed" + detail);
    case asio_step::write:
    case asio_step::read:
      break;
  }
  // The peer ended the connection: before the head no response came, after
  // it the body is cut short. A TLS peer closing without close_notify is
  // the same thing.
  if (ec == ae::eof || ec == bh::error::end_of_stream || ec == bh::error::partial_message ||
      ec == boost::asio::ssl::error::stream_truncated) {
    return head_received
               ? make_error(errc::closed_mid_body, "the server closed the connection before the body ended" + detail,
                            true)
               : make_error(errc::closed_mid_body, "the server closed the connection without a response" + detail,
                            true);
  }
  if (ec == ae::connection_reset || ec == ae::broken_pipe || ec == ae::connection_aborted) {
    return make_error(errc::connection_reset, "connection reset by the server" + detail, true);
  }
  if (ec.category() == bh::make_error_code(bh::error::bad_version).category()) {
    return head_received ? make_error(errc::closed_mid_body, "malformed response body" + detail, true)
                         : make_error(errc::unexpected_response, "the server did not answer with HTTP" + detail);
  }
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    return make_error(errc::tls_failure, "TLS failure" + detail, true);
  }
  return make_error(errc::connection_reset, "connection failed" + detail, true);
}

}  // namespace ews::soap::detail
