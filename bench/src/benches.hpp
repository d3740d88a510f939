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
/// --engine cpprestsdk (default) | asio, and --pool-threads N: the HTTP
/// engine under test and its threads. cpprestsdk: the process-wide pool
/// (0: its default of 40); asio: the transport's own threads (0: 1).
void apply_http_engine(const options& o, listener_options& lo);
/// Runs the others as child processes, several times each; prints and
/// writes the markdown table.
int run_suite(const options& o);

}  // namespace ews::bench
