#pragma once
// Private: the HTTP engines behind make_http_transport, each in its own
// sources, sharing one certificate store per transport.

#include <ews/soap/transport.hpp>

#include "http/cert_store.hpp"

#include <memory>

namespace ews::soap::detail {

std::unique_ptr<transport> make_cpprest_transport(http_transport_options options, std::shared_ptr<cert_store> store);

/// Throws ews::error (errc::invalid_argument) when options.threads is out of range.
std::unique_ptr<transport> make_asio_transport(http_transport_options options, std::shared_ptr<cert_store> store);

}  // namespace ews::soap::detail
