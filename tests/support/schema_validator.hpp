#pragma once
/// @file
/// Test support: validates a whole SOAP 1.1 request envelope in-process
/// against Microsoft's EWS schema, the way
/// `xmllint --nonet --schema tests/schema/soap-envelope.xsd` does
/// (`/work/shared/ews-schema/validate-body.sh`): the Body's child strictly
/// against messages.xsd/types.xsd, Header children laxly (checked where
/// types.xsd declares them, as t:RequestServerVersion and
/// t:ExchangeImpersonation are).
///
/// Each schema set is parsed once per process, on first use, and shared by
/// all threads. Nothing is fetched from the network.

#include <string>
#include <string_view>

namespace ews::test {

/// Which copy of the schema to validate against.
enum class schema_set {
  exchange_online,  ///< tests/schema/
  onprem_15_2,      ///< tests/schema/onprem-15.2.2562.17/ (Exchange 2019 CU15)
};

/// "exchange_online" / "onprem_15_2", for test messages.
const char* to_string(schema_set set) noexcept;

/// Empty if `envelope` is one well-formed soap:Envelope whose Body child is
/// valid; otherwise libxml2's messages ("line N: ..."), one per line.
std::string validate_request(std::string_view envelope, schema_set set);

}  // namespace ews::test
