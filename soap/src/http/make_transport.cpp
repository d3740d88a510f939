// make_http_transport: picks the engine. Kept apart from both engines so
// neither depends on the other.

#include <ews/soap/transport.hpp>

#include "http/engines.hpp"

namespace ews::soap {

std::unique_ptr<transport> make_http_transport(http_transport_options options) {
  auto store = detail::cert_store::create(options.ca_file);
  if (!store) throw error(store.error());
  switch (options.engine) {
    case http_engine::asio:
      return detail::make_asio_transport(std::move(options), std::move(*store));
    case http_engine::cpprestsdk:
      break;
  }
  return detail::make_cpprest_transport(std::move(options), std::move(*store));
}

}  // namespace ews::soap
