// make_http_transport: picks the engine. Kept apart from both engines so
// neither depends on the other.

#include <ews/soap/transport.hpp>

#include "http/engines.hpp"

#include <string>

namespace ews::soap {

std::unique_ptr<transport> make_http_transport(http_transport_options options) {
  auto store = detail::cert_store::create(options.ca_file);
  if (!store) throw error(store.error());
  // Which engine carries the traffic is the first thing to know when
  // reading a wire problem.
  const bool asio = options.engine == http_engine::asio;
  if (options.log.enabled(log_level::info)) {
    options.log(log_level::info, asio ? "HTTP engine: asio, " + std::to_string(options.threads) + " thread(s)"
                                      : std::string("HTTP engine: cpprestsdk"));
  }
  if (asio) return detail::make_asio_transport(std::move(options), std::move(*store));
  return detail::make_cpprest_transport(std::move(options), std::move(*store));
}

}  // namespace ews::soap
