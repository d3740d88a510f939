// Sizing cpprestsdk's thread pool: the one process-wide setting of the
// engine, kept apart so its global nature is visible in one place.

#include <ews/soap/transport.hpp>

#include <pplx/threadpool.h>

#include <stdexcept>
#include <string>

namespace ews::soap {

status set_http_engine_threads(std::size_t threads) {
  if (threads < 1 || threads > max_http_engine_threads) {
    return make_error(errc::invalid_argument,
                      "HTTP engine threads must be 1.." + std::to_string(max_http_engine_threads));
  }
  try {
    // cpprestsdk creates its pool exactly once (on first use, or here) and
    // throws if it exists already: it is never resized under running work.
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument,
                      std::string("the HTTP engine's thread pool exists already (call set_http_engine_threads "
                                  "before the first request of the process): ") +
                          e.what());
  }
  return ok;
}

}  // namespace ews::soap
