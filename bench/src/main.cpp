// ews-bench: speed, memory and scale of the streaming pipeline, measured
// against the physical limit (pugixml parsing the same bytes). `bench/run`
// builds it and runs `ews-bench suite`; each mode also runs alone:
//
//   ews-bench suite [--quick] [--runs R] [--out FILE]
//   ews-bench pipeline --mails N --body BYTES
//   ews-bench scale --mailboxes M --idle-s S --keepalive-ms MS
//   ews-bench latency --envelopes E --interval-ms MS
//   ews-bench readers
//   ews-bench serve --mode pipeline|scale|latency ...   (the bench server)
//
// Every mode takes --source DIR (the repository, for the fixtures).
#include "bench_server.hpp"
#include "benches.hpp"
#include "workload.hpp"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#ifndef EWS_BENCH_SOURCE_DIR
#define EWS_BENCH_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  using namespace ews::bench;
  if (argc < 2) {
    std::cerr << "usage: ews-bench suite|pipeline|scale|latency|readers|serve [--name value ...]\n";
    return 2;
  }
  const std::string mode = argv[1];
  try {
    options o(argc, argv, 2);
    if (!o.has("source")) o.set("source", EWS_BENCH_SOURCE_DIR);
    // Children run this same program: by its own path, which also holds
    // under valgrind (where /proc/self/exe is the tool).
    if (char* self = ::realpath(argv[0], nullptr)) {
      o.set("program", self);
      std::free(self);
    }
    if (mode == "suite") return run_suite(o);
    const workload w(o.text("source", "."));
    if (mode == "serve") return run_server(o, w);
    if (mode == "pipeline") return run_pipeline(o, w);
    if (mode == "scale") return run_scale(o, w);
    if (mode == "latency") return run_latency(o, w);
    if (mode == "readers") return run_readers(o, w);
    std::cerr << "ews-bench: unknown mode '" << mode << "'\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ews-bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
}
