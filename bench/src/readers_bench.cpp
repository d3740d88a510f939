// The readers' cost against bare pugixml on the same envelope: recorded
// responses (Exchange 2016 and gromox streams, Exchange Online GetItem) and
// the generated ones the pipeline uses; and the envelope splitter framing a
// generated stream against pugixml parsing the same envelopes. Best of several rounds each: the
// least disturbed measurement of the same work on a noisy machine.
#include "benches.hpp"

#include "measure.hpp"
#include "workload.hpp"

#include <ews/soap/envelope_splitter.hpp>
#include <ews/soap/responses.hpp>

#include <pugixml.hpp>

#include <functional>
#include <iostream>
#include <stdexcept>

namespace ews::bench {
namespace {

// CPU microseconds per call of `fn`: best of `rounds` rounds of enough calls
// to last about 20 ms.
double cost_us(const std::function<bool()>& fn, int rounds) {
  int n = 1;
  for (;;) {
    const auto t0 = thread_cpu_us();
    for (int i = 0; i < n; ++i)
      if (!fn()) throw std::runtime_error("a reader refused a recorded envelope");
    if (thread_cpu_us() - t0 >= 20000 || n >= (1 << 20)) break;
    n *= 2;
  }
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = thread_cpu_us();
    for (int i = 0; i < n; ++i) fn();
    best = std::min(best, static_cast<double>(thread_cpu_us() - t0) / n);
  }
  return best;
}

}  // namespace

int run_readers(const options& o, const workload& w) {
  const std::string root = o.text("source", "");
  const int rounds = static_cast<int>(o.number("rounds", 7));
  struct sample {
    std::string name;
    std::string text;
    bool item;  // GetItem (else GetStreamingEvents)
  };
  std::vector<std::uint64_t> fifty;
  for (std::uint64_t i = 0; i < 50; ++i) fifty.push_back(i);
  std::string ten_events;
  for (std::uint64_t i = 0; i < 5; ++i) ten_events += w.new_mail_event(i);
  const std::vector<sample> samples = {
      {"gse_exchange2016", slurp(root + "/tests/fixtures/scenarios/exchange2016-stream/stream.chunk-01.xml"), false},
      {"gse_bookingbug_pretty",
       slurp(root + "/tests/fixtures/wire/bookingbug-viewpoint/get_streaming_events_response.two-notifications.xml"),
       false},
      {"gse_gromox", slurp(root + "/tests/fixtures/scenarios/gromox-stream-and-fetch/stream.chunk-03.xml"), false},
      {"getitem_exchange_online",
       slurp(root + "/tests/fixtures/wire/garethp-php-ews/extracted/MailAPITest.testGetSingleMailItem.10-response-200.xml"),
       true},
      {"gse_generated_10_events",
       w.events_envelope({{workload::subscription_id(1), ten_events}, {workload::subscription_id(2), ten_events}}),
       false},
      {"getitem_generated_50_small", w.get_item_response(fifty, 0), true},
      {"getitem_generated_50_32k", w.get_item_response(fifty, 32 * 1024), true},
  };
  result_line r;
  for (const auto& s : samples) {
    const double bare = cost_us(
        [&] {
          pugi::xml_document doc;
          return static_cast<bool>(doc.load_buffer(s.text.data(), s.text.size(), pugi::parse_default,
                                                   pugi::encoding_utf8));
        },
        rounds);
    const double ours = cost_us(
        [&] {
          return s.item ? soap::read_get_item_response(s.text).has_value()
                        : soap::read_get_streaming_events_response(s.text).has_value();
        },
        rounds);
    r[s.name + ".bytes"] = static_cast<double>(s.text.size());
    r[s.name + ".pugixml_us"] = bare;
    r[s.name + ".reader_us"] = ours;
    r[s.name + ".ratio"] = ours / bare;
  }
  // The splitter on a stream of 100 generated envelopes cut into the bench
  // server's piece sizes, against pugixml parsing those envelopes.
  {
    std::string stream;
    std::vector<std::string> envelopes;
    for (std::uint64_t e = 0; e < 100; ++e) {
      std::string events;
      for (std::uint64_t k = 0; k < 5; ++k) events += w.new_mail_event(e * 10 + k);
      envelopes.push_back(w.events_envelope({{workload::subscription_id(1 + e % 10), events},
                                             {workload::subscription_id(1 + (e + 1) % 10), events}}));
      stream += envelopes.back();
    }
    constexpr std::size_t pieces[] = {1460, 517, 2920, 4096, 1000, 8192, 333};
    const double bare = cost_us(
        [&] {
          bool ok = true;
          for (const auto& e : envelopes) {
            pugi::xml_document doc;
            ok = ok && doc.load_buffer(e.data(), e.size(), pugi::parse_default, pugi::encoding_utf8);
          }
          return ok;
        },
        rounds);
    const double ours = cost_us(
        [&] {
          soap::envelope_splitter splitter;
          std::string out;
          std::size_t found = 0, at = 0;
          for (std::size_t i = 0; at < stream.size(); ++i) {
            const std::size_t n = std::min(pieces[i % std::size(pieces)], stream.size() - at);
            if (!splitter.feed(std::string_view(stream).substr(at, n))) return false;
            at += n;
            while (splitter.next(out)) ++found;
          }
          return found == envelopes.size();
        },
        rounds);
    r["splitter_100_envelopes.bytes"] = static_cast<double>(stream.size());
    r["splitter_100_envelopes.pugixml_us"] = bare;
    r["splitter_100_envelopes.reader_us"] = ours;
    r["splitter_100_envelopes.ratio"] = ours / bare;
  }
  std::cout << format(r) << std::endl;
  return 0;
}

}  // namespace ews::bench
