#include "http/cpprest_errors.hpp"

#include <cpprest/http_msg.h>
#include <pplx/pplxtasks.h>

#include <cerrno>
#include <string>

namespace ews::soap::detail {
namespace {

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

error_info from_code(int code, const std::string& what, bool head_received) {
  const std::string detail = " (" + what + ", code " + std::to_string(code) + ")";
  // TLS first: handshake failures carry OpenSSL codes, which are large.
  if (contains(what, "SSL") || contains(what, "handshake") || contains(what, "certificate") ||
      code > 0xFFFF) {
    return make_error(errc::tls_failure, "TLS handshake or certificate verification failed" + detail);
  }
  switch (code) {
    case ECANCELED:
      return make_error(errc::cancelled, "cancelled" + detail);
    case ETIMEDOUT:
      return make_error(errc::timeout, "no data within the inactivity timeout" + detail, true);
    case 2:  // boost::asio::error::eof (misc category, flattened to its value by cpprestsdk)
      return head_received
                 ? make_error(errc::closed_mid_body, "the server closed the connection before the body ended" + detail,
                              true)
                 : make_error(errc::closed_mid_body, "the server closed the connection without a response" + detail,
                              true);
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
      return make_error(errc::connection_reset, "connection reset by the server" + detail, true);
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EADDRNOTAVAIL:
    case EHOSTDOWN:
      return make_error(errc::connect_failed, "cannot connect" + detail, true);
    default:
      break;
  }
  if (contains(what, "resolve") || contains(what, "connect")) {
    return make_error(errc::connect_failed, "cannot connect" + detail, true);
  }
  if (!head_received && (contains(what, "status line") || contains(what, "header") || contains(what, "Invalid"))) {
    return make_error(errc::unexpected_response, "the server did not answer with HTTP" + detail);
  }
  if (head_received && (contains(what, "chunk") || contains(what, "body"))) {
    return make_error(errc::closed_mid_body, "malformed or truncated response body" + detail, true);
  }
  return make_error(errc::connection_reset, "connection failed" + detail, true);
}

}  // namespace

error_info classify_failure(std::exception_ptr e, bool head_received) {
  try {
    std::rethrow_exception(e);
  } catch (const pplx::task_canceled&) {
    return make_error(errc::cancelled, "cancelled");
  } catch (const web::http::http_exception& ex) {
    return from_code(ex.error_code().value(), ex.what(), head_received);
  } catch (const std::system_error& ex) {
    return from_code(ex.code().value(), ex.what(), head_received);
  } catch (const std::exception& ex) {
    return make_error(errc::connection_reset, std::string("HTTP failure: ") + ex.what(), true);
  } catch (...) {
    return make_error(errc::connection_reset, "HTTP failure of unknown kind", true);
  }
}

}  // namespace ews::soap::detail
