// on_behalf_of: ExchangeImpersonation by each identifier kind, X-AnchorMailbox,
// and envelopes that still validate against the EWS schema.

#include <ews/soap/mailbox_access.hpp>

#include "schema_validator.hpp"

#include <boost/test/unit_test.hpp>

using ews::soap::impersonation;

namespace {

std::string get_item_with(const ews::soap::mailbox_access& access) {
  ews::soap::get_item_request req;
  req.items.push_back({"AAMkAGI2", "CQAAABYA"});
  return ews::soap::build_get_item(access.envelope, req).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mailbox_access)

BOOST_AUTO_TEST_CASE(smtp_address_gives_impersonation_and_anchor) {
  auto a = ews::soap::on_behalf_of({impersonation::kind::smtp_address, "alice@contoso.com"});
  BOOST_TEST(ews::soap::find_header(a.headers, "X-AnchorMailbox").value_or("") == "alice@contoso.com");
  const auto xml = get_item_with(a);
  BOOST_TEST(xml.find("<t:SmtpAddress>alice@contoso.com</t:SmtpAddress>") != std::string::npos, xml);
  for (auto set : {ews::test::schema_set::exchange_online, ews::test::schema_set::onprem_15_2}) {
    BOOST_TEST(ews::test::validate_request(xml, set).empty());
  }
}

BOOST_AUTO_TEST_CASE(principal_name_and_sid) {
  auto upn = ews::soap::on_behalf_of({impersonation::kind::principal_name, "alice@corp.contoso.com"});
  BOOST_TEST(ews::soap::find_header(upn.headers, "X-AnchorMailbox").value_or("") == "alice@corp.contoso.com");
  BOOST_TEST(get_item_with(upn).find("<t:PrincipalName>alice@corp.contoso.com</t:PrincipalName>") !=
             std::string::npos);

  const std::string sid_value = "S-1-5-21-1234567890-1234567890-1234567890-1001";
  auto sid = ews::soap::on_behalf_of({impersonation::kind::sid, sid_value});
  BOOST_TEST(sid.headers.empty());  // no documented SID anchor
  const auto xml = get_item_with(sid);
  BOOST_TEST(xml.find("<t:SID>" + sid_value + "</t:SID>") != std::string::npos);
  BOOST_TEST(ews::test::validate_request(xml, ews::test::schema_set::exchange_online).empty());

  auto anchored = ews::soap::on_behalf_of({impersonation::kind::sid, sid_value}, "alice@contoso.com", "Exchange2016");
  BOOST_TEST(ews::soap::find_header(anchored.headers, "X-AnchorMailbox").value_or("") == "alice@contoso.com");
  BOOST_TEST(anchored.envelope.server_version == "Exchange2016");
}

BOOST_AUTO_TEST_CASE(refuses_empty_or_control_characters) {
  BOOST_CHECK_THROW(ews::soap::on_behalf_of({impersonation::kind::smtp_address, ""}), ews::error);
  BOOST_CHECK_THROW(ews::soap::on_behalf_of({impersonation::kind::smtp_address, "a@b\r\nX: y"}), ews::error);
  BOOST_CHECK_THROW(ews::soap::on_behalf_of({impersonation::kind::sid, "S-1-5"}, "a\n"), ews::error);
}

BOOST_AUTO_TEST_SUITE_END()
