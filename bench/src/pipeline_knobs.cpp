// Run-time knobs of the pipeline under test: the fetch wiring, and the one
// place the bench touches cpprestsdk directly: sizing its shared thread pool,
// to measure how much of the pipeline's cost is thread hand-offs.
#include "benches.hpp"

#include <pplx/threadpool.h>

#include <stdexcept>
#include <string>

namespace ews::bench {

wiring wiring_of(const options& o) {
  const std::string w = o.text("wiring", "on_item");
  if (w == "on_item") return wiring::on_item;
  if (w == "notification") return wiring::notification;
  throw std::runtime_error("--wiring is on_item or notification, not '" + w + "'");
}

void set_http_pool_threads(std::size_t n) { crossplat::threadpool::initialize_with_threads(n); }

}  // namespace ews::bench
