// libFuzzer target: every response reader takes any bytes without crashing,
// hanging or leaking, and reports failure as a typed error.
#include <ews/soap/responses.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Readers only ever fail with these kinds (responses.hpp).
bool reader_error(const ews::error_info& e) {
  switch (e.kind()) {
    case ews::errc::malformed_xml:
    case ews::errc::unexpected_response:
    case ews::errc::soap_fault:
    case ews::errc::throttled:
      return true;
    default:
      return false;
  }
}

template <class R>
void check(const R& r) {
  if (!r.has_value() && !reader_error(r.error())) {
    std::fprintf(stderr, "reader failed with an unexpected kind: %s\n", r.error().code_name().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view envelope(reinterpret_cast<const char*>(bytes), size);
  using namespace ews::soap;
  check(read_subscribe_response(envelope));
  check(read_unsubscribe_response(envelope));
  check(read_get_streaming_events_response(envelope));
  check(read_get_item_response(envelope));
  std::string in_place(envelope);
  check(read_get_item_response_in_place(in_place));
  check(read_sync_folder_items_response(envelope));
  check(read_generic_response(envelope));
  if (const auto fault = read_fault(envelope)) {
    if (fault->kind() != ews::errc::soap_fault && fault->kind() != ews::errc::throttled) {
      std::fprintf(stderr, "read_fault gave %s\n", fault->code_name().c_str());
      std::abort();
    }
  }
  return 0;
}
