#include <ews/error.hpp>
#include <ews/result.hpp>

#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(error_model)

BOOST_AUTO_TEST_CASE(error_code_compares_with_errc) {
  const auto info = ews::make_error(ews::errc::timeout, "no byte for 90 s", true);
  BOOST_TEST(info.code == ews::errc::timeout);
  BOOST_TEST(info.kind() == ews::errc::timeout);
  BOOST_TEST(info.transient);
  BOOST_TEST(info.code.category().name() == std::string("ews"));
  BOOST_TEST(info.code.message() == "timeout");
}

BOOST_AUTO_TEST_CASE(code_name_prefers_the_ews_response_code) {
  auto info = ews::make_error(ews::errc::throttled, "busy");
  BOOST_TEST(info.code_name() == "throttled");
  info.ews_code = ews::response_code::ErrorServerBusy;
  BOOST_TEST(info.code_name() == "ErrorServerBusy");
  info.response_code_text = "ErrorFromTheFuture";
  BOOST_TEST(info.code_name() == "ErrorFromTheFuture");
}

BOOST_AUTO_TEST_CASE(retryable_follows_the_kind_and_the_transient_flag) {
  for (auto kind : {ews::errc::throttled, ews::errc::connect_failed, ews::errc::connection_reset,
                    ews::errc::closed_mid_body, ews::errc::timeout})
    BOOST_TEST(ews::make_error(kind, "x").retryable(), ews::to_string(kind));
  for (auto kind : {ews::errc::authentication, ews::errc::redirect, ews::errc::tls_failure, ews::errc::cancelled,
                    ews::errc::malformed_xml, ews::errc::ews_error})
    BOOST_TEST(!ews::make_error(kind, "x").retryable(), ews::to_string(kind));
  BOOST_TEST(ews::make_error(ews::errc::ews_error, "ErrorMailboxStoreUnavailable", true).retryable());
}

BOOST_AUTO_TEST_CASE(exception_carries_the_info) {
  auto info = ews::make_error(ews::errc::http_status, "HTTP 503 Service Unavailable", true);
  info.http_status = 503;
  info.back_off = std::chrono::seconds(7);
  try {
    throw ews::error(info);
  } catch (const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("HTTP 503") != std::string::npos);
    const auto& ews_error = dynamic_cast<const ews::error&>(e);
    BOOST_TEST(ews_error.info().http_status == 503);
    BOOST_TEST(ews_error.info().back_off->count() == 7000);
  }
}

BOOST_AUTO_TEST_CASE(result_holds_value_or_error) {
  ews::result<int> good = 42;
  BOOST_TEST(good.has_value());
  BOOST_TEST(good.value() == 42);

  ews::result<int> bad = ews::make_error(ews::errc::malformed_xml, "line 1");
  BOOST_TEST(!bad.has_value());
  BOOST_TEST(bad.error().kind() == ews::errc::malformed_xml);
  BOOST_CHECK_THROW(bad.value(), ews::error);

  ews::status done = ews::ok;
  BOOST_TEST(done.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
