#pragma once
// The benchmark modes of ews-bench. Each prints one result line
// ("key=value ...", see measure.hpp) on stdout and returns the exit status.

#include "fetch_pipeline.hpp"
#include "options.hpp"

#include <cstddef>

namespace ews::bench {

class workload;

int run_pipeline(const options& o, const workload& w);
int run_scale(const options& o, const workload& w);
int run_latency(const options& o, const workload& w);
int run_readers(const options& o, const workload& w);
/// --wiring on_item (default) | notification: see fetch_pipeline.hpp.
wiring wiring_of(const options& o);
/// Experiment: the size of cpprestsdk's shared thread pool (before any use).
void set_http_pool_threads(std::size_t n);
/// Runs the others as child processes, several times each; prints and
/// writes the markdown table.
int run_suite(const options& o);

}  // namespace ews::bench
