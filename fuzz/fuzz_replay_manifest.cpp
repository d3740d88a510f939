// libFuzzer target: the replay manifest parser takes any text without
// crashing, hanging or leaking, and reports failure as invalid_argument
// (scenario.hpp). Body files come from a deterministic fake reader so the
// file directives (body, chunk file=, raw, request-body) are exercised too.
#include <ews/testing/scenario.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Names starting with '!' fail to read, like a missing file; any other name
// reads as a small body derived from the name (so sizes vary with input).
ews::result<std::string> fake_read(std::string_view name) {
  if (!name.empty() && name.front() == '!')
    return ews::make_error(ews::errc::io_error, "no such file");
  return std::string("<body of ") + std::string(name) + ">";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  const ews::testing::file_reader read = fake_read;
  const auto parsed = ews::testing::parse_manifest(text, "fuzz.manifest", read);
  if (!parsed.has_value() && parsed.error().kind() != ews::errc::invalid_argument) {
    std::fprintf(stderr, "parse_manifest failed with an unexpected kind: %s\n",
                 parsed.error().code_name().c_str());
    std::abort();
  }
  return 0;
}
