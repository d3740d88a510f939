// libFuzzer target: the envelope splitter must give the same envelopes and
// the same error whatever the chunking, and never break its contract.
//
// The whole input is the stream (so the wire fixtures work as seeds as they
// are); its last four bytes also seed the chunk sizes and the size limit, so
// the fuzzer steers boundaries and the limit by mutating them.
#include <ews/soap/envelope_splitter.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct outcome {
  std::vector<std::string> envelopes;
  std::optional<ews::errc> error;
  bool partial = false;
};

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) violated(what);
}

// xorshift32: chunk sizes from the seed, deterministic per input.
struct rng {
  std::uint32_t s;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

outcome run(std::string_view data, std::size_t limit, std::uint32_t seed) {
  ews::soap::splitter_options o;
  o.max_envelope_bytes = limit;
  ews::soap::envelope_splitter s(o);
  outcome out;
  rng r{seed | 1u};
  std::string e;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t n = data.size() - pos;
    if (seed != 0) {
      // Mostly tiny pieces (cuts inside tokens), sometimes large ones.
      const std::uint32_t x = r.next();
      const std::size_t cap = (x & 3u) == 0 ? 4096 : (x & 3u) == 1 ? 64 : 8;
      n = std::min<std::size_t>(n, 1 + (x >> 8) % cap);
    }
    const auto st = s.feed(data.substr(pos, n));
    pos += n;
    while (s.next(e)) {
      check(!e.empty() && e.front() == '<' && e.back() == '>', "envelope must run from '<' to '>'");
      check(e.size() <= limit, "envelope larger than the limit");
      out.envelopes.push_back(std::move(e));
    }
    check(s.buffered() <= limit, "more than the limit buffered");
    if (!st) {
      out.error = st.error().kind();
      check(s.failed(), "error without failed()");
      const auto again = s.feed("<a/>");
      check(!again && again.error().kind() == *out.error, "a failed splitter must stay failed");
      break;
    }
    check(s.partial() == (s.buffered() > 0), "partial() must mean bytes are held");
  }
  out.partial = s.partial();
  return out;
}

bool separator(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0; }

// Envelopes are the stream's own bytes, in order, with only whitespace, NUL
// and BOMs before each of them.
void check_covers(std::string_view data, const std::vector<std::string>& envelopes) {
  std::size_t pos = 0;
  for (const auto& e : envelopes) {
    for (;;) {
      if (pos < data.size() && separator(static_cast<unsigned char>(data[pos]))) {
        ++pos;
      } else if (data.substr(pos, 3) == "\xEF\xBB\xBF") {
        pos += 3;
      } else {
        break;
      }
    }
    check(data.substr(pos, e.size()) == e, "envelope is not the next bytes of the stream");
    pos += e.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::uint32_t seed = 0x9E3779B9u;
  for (std::size_t i = size >= 4 ? size - 4 : 0; i < size; ++i) seed = seed * 131u + bytes[i];
  const std::size_t limit = 1 + (seed >> 7) % 8192;

  const outcome whole = run(data, limit, 0);
  const outcome pieces = run(data, limit, seed);
  check(whole.envelopes == pieces.envelopes, "envelopes depend on chunking");
  check(whole.error == pieces.error, "error depends on chunking");
  check(whole.partial == pieces.partial, "partial() depends on chunking");
  check_covers(data, whole.envelopes);
  return 0;
}
