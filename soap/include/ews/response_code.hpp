#pragma once
/// @file
/// EWS ResponseCode values (messages.xsd, ResponseCodeType) as an enum.

#include <ews/detail/response_code_list.hpp>

#include <optional>
#include <string_view>

namespace ews {

/// One enumerator per ResponseCodeType value, spelled exactly as on the wire
/// so a code seen in a trace can be grepped in code. `unknown` stands for a
/// code newer than this library's schema copy; the raw text is kept next to it
/// wherever one is reported.
enum class response_code : int {
#define EWS_DETAIL_ENUMERATOR(name) name,
  EWS_DETAIL_RESPONSE_CODES(EWS_DETAIL_ENUMERATOR)
#undef EWS_DETAIL_ENUMERATOR
  unknown
};

/// The wire name of a code ("ErrorServerBusy"); "unknown" for response_code::unknown.
std::string_view to_string(response_code code) noexcept;

/// The code for a wire name, or nullopt if the name is not in the schema.
std::optional<response_code> parse_response_code(std::string_view name) noexcept;

/// Number of codes in the schema (excludes `unknown`).
inline constexpr int response_code_count = static_cast<int>(response_code::unknown);

}  // namespace ews
