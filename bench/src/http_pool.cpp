// The one place the bench touches cpprestsdk directly: sizing its shared
// thread pool, to measure how much of the pipeline's cost is thread hand-offs.
#include "benches.hpp"

#include <pplx/threadpool.h>

namespace ews::bench {

void set_http_pool_threads(std::size_t n) { crossplat::threadpool::initialize_with_threads(n); }

}  // namespace ews::bench
