#pragma once
// The bench server: a replay_server in its own process (so the client's CPU
// can be measured alone) answering Subscribe, GetStreamingEvents (generated
// streams: mails as fast as the client reads, keep-alives, or paced
// envelopes for latency), GetItem (the asked ids, with generated bodies) and
// Unsubscribe. Prints its URL on stdout; runs until SIGTERM or SIGINT.
//
//   --mode pipeline --mails N --body BYTES [--per-notification 5] [--per-envelope 2]
//   --mode scale --keepalive-ms MS
//   --mode latency --envelopes E --per-notification K --interval-ms MS

#include "options.hpp"

namespace ews::bench {

class workload;

int run_server(const options& o, const workload& w);

}  // namespace ews::bench
