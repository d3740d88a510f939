// The plain protocol types and the schema enumerations the builders check
// arguments against: the lists must equal types.xsd, or the library would
// refuse valid names or send names the server rejects.
#include <ews/soap/types.hpp>

#include "schema_names.hpp"  // private (soap/src): the lists under test

#include <boost/test/unit_test.hpp>
#include <pugixml.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using ews::soap::event_type;

std::vector<std::string> schema_enumeration(const std::string& file, const char* type_name) {
  pugi::xml_document doc;
  const auto path = std::string(EWS_TEST_DIR) + "/schema/" + file;
  const auto r = doc.load_file(path.c_str());
  BOOST_REQUIRE_MESSAGE(r, path << ": " << r.description());
  const auto type = doc.child("xs:schema").find_child_by_attribute("xs:simpleType", "name", type_name);
  BOOST_REQUIRE_MESSAGE(type, type_name << " not found in " << path);
  std::vector<std::string> values;
  for (auto e : type.child("xs:restriction").children("xs:enumeration")) {
    values.emplace_back(e.attribute("value").value());
  }
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<std::string> to_vector(ews::soap::detail::name_list list) {
  return {list.begin(), list.end()};
}

// Equal to the Exchange Online list; the on-premises list is a subset, so a
// name valid on either server is accepted.
void check_list(ews::soap::detail::name_list list, const char* type_name) {
  const auto ours = to_vector(list);
  BOOST_TEST(std::is_sorted(ours.begin(), ours.end()));  // binary search depends on it
  const auto online = schema_enumeration("types.xsd", type_name);
  BOOST_TEST(ours == online, boost::test_tools::per_element());
  const auto onprem = schema_enumeration("onprem-15.2.2562.17/types.xsd", type_name);
  BOOST_TEST(!onprem.empty());
  BOOST_TEST(std::includes(ours.begin(), ours.end(), onprem.begin(), onprem.end()));
  for (const auto& name : online) BOOST_TEST(list.contains(name), name);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(types)

BOOST_AUTO_TEST_CASE(distinguished_folder_names_match_the_schema) {
  check_list(ews::soap::detail::distinguished_folder_names(), "DistinguishedFolderIdNameType");
  BOOST_TEST(ews::soap::detail::distinguished_folder_names().size() == 71u);
  for (const auto& name : schema_enumeration("types.xsd", "DistinguishedFolderIdNameType")) {
    BOOST_TEST(ews::soap::is_distinguished_folder_name(name), name);
  }
}

BOOST_AUTO_TEST_CASE(request_server_versions_match_the_schema) {
  check_list(ews::soap::detail::exchange_versions(), "ExchangeVersionType");
  BOOST_TEST(ews::soap::detail::exchange_versions().contains("Exchange2013_SP1"));
}

BOOST_AUTO_TEST_CASE(unindexed_field_uris_match_the_schema) {
  check_list(ews::soap::detail::unindexed_field_uris(), "UnindexedFieldURIType");
  BOOST_TEST(ews::soap::detail::unindexed_field_uris().contains("item:Subject"));
  BOOST_TEST(ews::soap::detail::unindexed_field_uris().contains("message:InternetMessageId"));
}

BOOST_AUTO_TEST_CASE(distinguished_folder_names_are_exact) {
  using ews::soap::is_distinguished_folder_name;
  BOOST_TEST(is_distinguished_folder_name("inbox"));
  BOOST_TEST(is_distinguished_folder_name("msgfolderroot"));
  BOOST_TEST(is_distinguished_folder_name("archive"));
  BOOST_TEST(!is_distinguished_folder_name("Inbox"));  // the schema is case-sensitive
  BOOST_TEST(!is_distinguished_folder_name(""));
  BOOST_TEST(!is_distinguished_folder_name("inbox "));
  BOOST_TEST(!is_distinguished_folder_name("inbo"));
  BOOST_TEST(!is_distinguished_folder_name(std::string("inbox\0x", 7)));
}

BOOST_AUTO_TEST_CASE(event_type_names) {
  const std::pair<event_type, const char*> all[] = {
      {event_type::new_mail, "NewMail"}, {event_type::created, "Created"},
      {event_type::modified, "Modified"}, {event_type::deleted, "Deleted"},
      {event_type::moved, "Moved"},       {event_type::copied, "Copied"},
      {event_type::free_busy_changed, "FreeBusyChanged"}, {event_type::status, "Status"},
  };
  for (const auto& [type, name] : all) {
    BOOST_TEST(ews::soap::to_string(type) == std::string(name));
    BOOST_TEST((ews::soap::parse_event_type(name) == type), name);
    BOOST_TEST((ews::soap::parse_event_type(std::string(name) + "Event") == type), name);
  }
}

BOOST_AUTO_TEST_CASE(event_type_parsing_is_case_insensitive_and_strict) {
  using ews::soap::parse_event_type;
  BOOST_TEST((parse_event_type("newmailevent") == event_type::new_mail));
  BOOST_TEST((parse_event_type("NEWMAIL") == event_type::new_mail));
  BOOST_TEST((parse_event_type("StatusEvent") == event_type::status));
  BOOST_TEST((parse_event_type("freebusychangedEVENT") == event_type::free_busy_changed));
  BOOST_TEST(!parse_event_type(""));
  BOOST_TEST(!parse_event_type("Event"));
  BOOST_TEST(!parse_event_type("NewMailEvents"));
  BOOST_TEST(!parse_event_type("NewMailEventEvent"));
  BOOST_TEST(!parse_event_type(" NewMail"));
  BOOST_TEST(!parse_event_type("ReadFlagChange"));
}

BOOST_AUTO_TEST_CASE(every_subscribable_event_type_is_in_the_schema) {
  // NotificationEventTypeType holds "<Name>Event" for every type but Status.
  for (const auto& set : {"types.xsd", "onprem-15.2.2562.17/types.xsd"}) {
    const auto values = schema_enumeration(set, "NotificationEventTypeType");
    BOOST_TEST(values.size() == 7u);
    for (const auto& v : values) {
      const auto t = ews::soap::parse_event_type(v);
      BOOST_TEST_REQUIRE(t.has_value(), v);
      BOOST_TEST((*t != event_type::status));
      BOOST_TEST(std::string(ews::soap::to_string(*t)) + "Event" == v);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
