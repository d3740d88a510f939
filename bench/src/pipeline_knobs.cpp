// Run-time knobs of the pipeline under test: the fetch wiring, and the size
// of the HTTP engine's (process-wide) thread pool, through the library's own
// setting, to measure how much of the pipeline's cost is thread hand-offs.
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

}  // namespace ews::bench
