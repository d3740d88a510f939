// The sample programs' command-line contract (issue 7): every flag parsed,
// usage errors rejected before any request.
#include "cli_options.hpp"
#include "event_lines.hpp"
#include "json_line.hpp"
#include "program_support.hpp"

#include <boost/test/unit_test.hpp>

using ews::samples::parse_listen_args;
using ews::samples::parse_sync_args;
using ews::samples::usage_error;
using method = ews::samples::auth_options::method;

BOOST_AUTO_TEST_SUITE(listen_cli)

BOOST_AUTO_TEST_CASE(defaults_are_demo_inbox_newmail) {
  const auto o = parse_listen_args({});
  BOOST_TEST(o.common.url.empty());
  BOOST_TEST((o.common.auth.kind == method::none));
  BOOST_TEST((o.common.folders == std::vector<std::string>{"inbox"}));
  BOOST_TEST((o.events == std::vector<std::string>{"NewMail"}));
  BOOST_TEST(o.heartbeat_timeout_seconds == 90);
  BOOST_TEST(o.connection_timeout_minutes == 30);
  BOOST_TEST(!o.count.has_value());
  BOOST_TEST((o.common.http_engine == ews::soap::http_engine::cpprestsdk));
}

BOOST_AUTO_TEST_CASE(every_flag_is_parsed) {
  const auto o = parse_listen_args(
      {"--url", "https://mail.example.com/EWS/Exchange.asmx", "--user", "svc@example.com", "--password-env", "EWS_PW",
       "--mailbox", "a@example.com", "--mailbox", "b@example.com,c@example.com", "--folder", "inbox", "--folder",
       "sentitems", "--event", "newmail,Created", "--event", "DeletedEvent", "--count", "5", "--duration", "60",
       "--connection-timeout", "10", "--heartbeat-timeout", "45", "--batch-size", "20", "--checkpoint", "/tmp/cp",
       "--reconcile", "--ca-file", "ca.pem", "--allow-insecure-http", "--http-engine", "asio", "--log-level",
       "debug"});
  BOOST_TEST(o.common.url == "https://mail.example.com/EWS/Exchange.asmx");
  BOOST_TEST((o.common.auth.kind == method::basic));
  BOOST_TEST(o.common.auth.user == "svc@example.com");
  BOOST_TEST(o.common.auth.password_env == "EWS_PW");
  BOOST_TEST(o.common.mailboxes.size() == 3u);
  BOOST_TEST((o.common.folders == std::vector<std::string>{"inbox", "sentitems"}));
  BOOST_TEST((o.events == std::vector<std::string>{"Created", "Deleted", "NewMail"}));
  BOOST_TEST(*o.count == 5);
  BOOST_TEST(*o.duration_seconds == 60);
  BOOST_TEST(o.connection_timeout_minutes == 10);
  BOOST_TEST(o.heartbeat_timeout_seconds == 45);
  BOOST_TEST(o.batch_size == 20);
  BOOST_TEST(o.common.checkpoint_dir == "/tmp/cp");
  BOOST_TEST(o.reconcile);
  BOOST_TEST(o.common.ca_file == "ca.pem");
  BOOST_TEST(o.common.allow_insecure_http);
  BOOST_TEST((o.common.http_engine == ews::soap::http_engine::asio));
  BOOST_TEST(o.common.log_level == "debug");
}

BOOST_AUTO_TEST_CASE(auth_methods) {
  BOOST_TEST((parse_listen_args({"--url", "https://x/EWS", "--bearer-token-file", "t"}).common.auth.kind ==
              method::bearer));
  const auto oauth = parse_listen_args({"--url", "https://x/EWS", "--oauth-token-url", "https://login/token",
                                        "--client-id", "id", "--client-secret-file", "s", "--scope", "sc"});
  BOOST_TEST((oauth.common.auth.kind == method::oauth_client_credentials));
  BOOST_TEST(oauth.common.auth.scope == "sc");
  BOOST_TEST(parse_listen_args({"--url=https://x/EWS", "--user=u", "--password=p"}).common.auth.password == "p");
}

BOOST_AUTO_TEST_CASE(usage_errors) {
  using args = std::vector<std::string>;
  for (const args& bad : {
           args{"--count", "ten"},
           args{"--count", "0"},
           args{"--count"},
           args{"--connection-timeout", "31"},
           args{"--heartbeat-timeout", "-1"},
           args{"--batch-size", "1x"},
           args{"--event", "Exploded"},
           args{"--url", "https://x", "--user", "u"},
           args{"--url", "https://x", "--password", "p"},
           args{"--url", "https://x", "--user", "u", "--password", "p", "--bearer-token", "t"},
           args{"--url", "https://x", "--user", "u", "--password", "p", "--password-env", "E"},
           args{"--url", "https://x", "--oauth-token-url", "https://t", "--client-id", "c"},
           args{"--url", "https://x", "--bearer-token", "t", "--bearer-token-file", "f"},
           args{"--user", "u", "--password", "p"},
           args{"--log-level", "loud"},
           args{"--http-engine", "curl"},
           args{"--no-such-flag"},
           args{"--url", "a", "--url", "b"},
       }) {
    BOOST_CHECK_THROW(parse_listen_args(bad), usage_error);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sync_cli)

BOOST_AUTO_TEST_CASE(parses_and_rejects) {
  const auto o = parse_sync_args({"--url", "https://x/EWS", "--bearer-token", "t", "--once", "--folder", "sentitems"});
  BOOST_TEST(o.once);
  BOOST_TEST((o.common.folders == std::vector<std::string>{"sentitems"}));
  BOOST_TEST(parse_sync_args({"--url", "https://x/EWS", "--interval", "30"}).interval_seconds == 30);
  BOOST_CHECK_THROW(parse_sync_args({}), usage_error);
  BOOST_CHECK_THROW(parse_sync_args({"--url", "https://x", "--once", "--interval", "5"}), usage_error);
  BOOST_CHECK_THROW(parse_sync_args({"--url", "https://x", "--mailbox", "a@x", "--mailbox", "b@x"}), usage_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(json_lines_escape_strings) {
  const auto line = ews::samples::json_line()
                        .field("type", "item")
                        .field("subject", "say \"hi\"\n\\ \x01 caf\xc3\xa9")
                        .field("size", std::int64_t{1234})
                        .str();
  BOOST_TEST(line == "{\"type\":\"item\",\"subject\":\"say \\\"hi\\\"\\n\\\\ \\u0001 caf\xc3\xa9\",\"size\":1234}\n");
}

BOOST_AUTO_TEST_CASE(json_lines_stay_valid_utf8) {
  // A lone continuation byte, a cut sequence and an overlong '/' each become U+FFFD.
  const auto line = ews::samples::json_line().field("s", "a\x80" "b\xe2\x82 \xc0\xaf \xe2\x82\xac").str();
  BOOST_TEST(line == "{\"s\":\"a\\ufffdb\\ufffd\\ufffd \\ufffd\\ufffd \xe2\x82\xac\"}\n");
}

BOOST_AUTO_TEST_CASE(plain_http_only_to_loopback_or_with_the_opt_in) {
  using ews::samples::check_url;
  BOOST_CHECK_NO_THROW(check_url("https://mail.example.com/EWS/Exchange.asmx", false));
  BOOST_CHECK_NO_THROW(check_url("http://127.0.0.1:8080/EWS/Exchange.asmx", false));
  BOOST_CHECK_NO_THROW(check_url("http://localhost/EWS/Exchange.asmx", false));
  BOOST_CHECK_NO_THROW(check_url("http://[::1]:80/EWS/Exchange.asmx", false));
  BOOST_CHECK_NO_THROW(check_url("http://mail.example.com/EWS/Exchange.asmx", true));
  BOOST_CHECK_THROW(check_url("http://mail.example.com/EWS/Exchange.asmx", false), usage_error);
  BOOST_CHECK_THROW(check_url("http://127.0.0.1.evil.example/EWS", false), usage_error);
  BOOST_CHECK_THROW(check_url("http://localhost@evil.example/EWS", false), usage_error);
  BOOST_CHECK_THROW(check_url("ftp://mail.example.com/", true), usage_error);
  BOOST_CHECK_THROW(check_url("https:///EWS", false), usage_error);
}

BOOST_AUTO_TEST_CASE(item_line_takes_the_change_key_getitem_returned_when_the_event_has_none) {
  ews::item_outcome o;
  o.source.mailbox = "";
  o.source.event.type = ews::event_type::new_mail;
  o.source.event.item.id = "ID1";
  o.source.event.parent_folder_id = "F1";
  ews::item it;
  it.id = {"ID1", "CK-from-getitem"};
  it.subject = "Hello";
  it.from = ews::soap::mailbox_address{"Bob", "bob@example.com"};
  it.date_time_received = "2026-11-22T17:54:23Z";
  it.size = 2778;
  o.value = it;
  BOOST_TEST(ews::samples::item_line("alice@example.com", o) ==
             "{\"type\":\"item\",\"mailbox\":\"alice@example.com\",\"folder_id\":\"F1\",\"event\":\"NewMail\","
             "\"item_id\":\"ID1\",\"change_key\":\"CK-from-getitem\",\"subject\":\"Hello\",\"from\":\"bob@example.com\","
             "\"received\":\"2026-11-22T17:54:23Z\",\"size\":2778}\n");
  o.source.event.item.change_key = "CK-event";
  BOOST_TEST(ews::samples::item_line("a", o).find("\"change_key\":\"CK-event\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(gap_and_error_lines) {
  ews::gap g{"", "inbox", std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)),
             "ErrorSubscriptionNotFound"};
  BOOST_TEST(ews::samples::gap_line("alice@example.com", g) ==
             "{\"type\":\"gap\",\"mailbox\":\"alice@example.com\",\"folder_id\":\"inbox\","
             "\"since\":\"2026-01-01T00:00:00Z\",\"reason\":\"ErrorSubscriptionNotFound\"}\n");
  const auto e = ews::make_error(ews::errc::throttled, "busy");
  BOOST_TEST(ews::samples::error_line(e) == "{\"type\":\"error\",\"code\":\"" + e.code_name() +
                                                "\",\"message\":\"busy\"}\n");
}
