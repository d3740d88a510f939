// The token-response reader and the base64 decoder take bytes from the
// network: any input must give a value or an error, never a crash.
#include "auth/encoding.hpp"
#include "auth/flat_json.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ews::auth::detail::parse_flat_json(text);
  if (auto bytes = ews::auth::detail::base64_decode(text)) {
    if (ews::auth::detail::base64_encode(*bytes) != text) __builtin_trap();  // strict decoding round-trips
  }
  return 0;
}
