#pragma once
// Private: Boost.Asio/Beast/OpenSSL failures as ews errors, by the step that
// failed and by error code (the same kinds cpprest_errors gives).

#include <ews/error.hpp>

#include <boost/system/error_code.hpp>

namespace ews::soap::detail {

/// The step of an exchange a failure happened in.
enum class asio_step { connect, handshake, write, read };

/// `ec` as an error. `head_received`: whether the response head had arrived
/// (an end of stream before it is a failed exchange, after it a truncated
/// body).
error_info classify_asio_failure(const boost::system::error_code& ec, asio_step step, bool head_received);

}  // namespace ews::soap::detail
