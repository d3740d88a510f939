// Run-time knobs of the pipeline under test: the fetch wiring, the HTTP
// engine, and its threads (cpprestsdk: the process-wide pool, through the
// library's own setting; asio: the transport's own), to measure how much of
// the pipeline's cost is the engine and its thread hand-offs.
#include "benches.hpp"

#include <ews/soap/transport.hpp>

#include <stdexcept>
#include <string>

namespace ews::bench {

wiring wiring_of(const options& o) {
  const std::string w = o.text("wiring", "on_item");
  if (w == "on_item") return wiring::on_item;
  if (w == "notification") return wiring::notification;
  throw std::runtime_error("--wiring is on_item or notification, not '" + w + "'");
}

void set_http_pool_threads(std::size_t n) {
  if (auto set = soap::set_http_engine_threads(n); !set) throw std::runtime_error(set.error().message);
}

void apply_http_engine(const options& o, listener_options& lo) {
  const std::string engine = o.text("engine", "cpprestsdk");
  const std::size_t threads = o.number("pool-threads", 0);
  if (engine == "asio") {
    lo.transport.engine = soap::http_engine::asio;
    lo.transport.threads = threads > 0 ? threads : 1;
  } else if (engine == "cpprestsdk") {
    if (threads > 0) set_http_pool_threads(threads);
  } else {
    throw std::runtime_error("--engine is cpprestsdk or asio, not '" + engine + "'");
  }
}

}  // namespace ews::bench
