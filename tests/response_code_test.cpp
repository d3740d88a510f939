// Proves that ews::response_code has exactly the ResponseCodeType values of
// Microsoft's messages.xsd (both schema sets kept in tests/schema).
#include <ews/response_code.hpp>

#include <boost/test/unit_test.hpp>
#include <pugixml.hpp>

#include <set>
#include <string>
#include <vector>

namespace {

std::vector<std::string> schema_codes(const std::string& path) {
  pugi::xml_document doc;
  const auto parsed = doc.load_file(path.c_str());
  BOOST_REQUIRE_MESSAGE(parsed, path << ": " << parsed.description());
  const auto type = doc.document_element().find_child_by_attribute("xs:simpleType", "name", "ResponseCodeType");
  BOOST_REQUIRE(type);
  std::vector<std::string> codes;
  for (auto e : type.child("xs:restriction").children("xs:enumeration"))
    codes.emplace_back(e.attribute("value").value());
  return codes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(enum_matches_exchange_online_schema_exactly) {
  const auto codes = schema_codes(EWS_TEST_DIR "/schema/messages.xsd");
  BOOST_TEST(codes.size() == static_cast<std::size_t>(ews::response_code_count));
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const auto parsed = ews::parse_response_code(codes[i]);
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), codes[i] << " has no enum value");
    BOOST_TEST(static_cast<std::size_t>(*parsed) == i);
    BOOST_TEST(ews::to_string(*parsed) == codes[i]);
  }
}

BOOST_AUTO_TEST_CASE(on_premises_schema_is_covered) {
  for (const auto& code : schema_codes(EWS_TEST_DIR "/schema/onprem-15.2.2562.17/messages.xsd"))
    BOOST_TEST(ews::parse_response_code(code).has_value(), code);
}

BOOST_AUTO_TEST_CASE(unknown_names_are_rejected) {
  BOOST_TEST(!ews::parse_response_code("ErrorNotInTheSchema").has_value());
  BOOST_TEST(!ews::parse_response_code("").has_value());
  BOOST_TEST(!ews::parse_response_code("errorserverbusy").has_value());
  BOOST_TEST(ews::to_string(ews::response_code::unknown) == "unknown");
  BOOST_TEST(ews::to_string(ews::response_code::ErrorServerBusy) == "ErrorServerBusy");
}
