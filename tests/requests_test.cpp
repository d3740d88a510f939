// Request builders: every envelope validates against both schema sets, every
// caller string round-trips through a real XML parser, every bad argument is
// an invalid_argument that names it.
#include <ews/soap/requests.hpp>

#include "schema_validator.hpp"
#include "schema_names.hpp"  // private (soap/src): the version list
#include "xml_writer.hpp"    // private (soap/src): the writer's own edge cases

#include <boost/test/unit_test.hpp>
#include <pugixml.hpp>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace ews::soap;
using ews::test::schema_set;

constexpr schema_set both_sets[] = {schema_set::exchange_online, schema_set::onprem_15_2};

// Every XML special, whitespace that XML would normalise, and multi-byte UTF-8.
const std::string nasty = "a<b>&c\"d'e]]>f\tg\nh\ri \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";

std::string built(const ews::result<std::string>& r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(), "builder failed: " << (r ? "" : r.error().message));
  return *r;
}

// Builds and checks the envelope against both schema sets.
std::string valid(const ews::result<std::string>& r) {
  std::string xml = built(r);
  for (const auto set : both_sets) {
    const std::string errors = ews::test::validate_request(xml, set);
    BOOST_TEST(errors.empty(), to_string(set) << ": " << errors << "in " << xml.substr(0, 3000));
  }
  return xml;
}

void invalid_argument(const ews::result<std::string>& r, const std::string& argument) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(), "expected invalid_argument naming " << argument);
  BOOST_TEST((r.error().kind() == ews::errc::invalid_argument), r.error().message);
  BOOST_TEST(r.error().message.find(argument) != std::string::npos,
             "'" << r.error().message << "' should name " << argument);
}

struct parsed {
  pugi::xml_document doc;
  explicit parsed(const std::string& xml) {
    // parse_default plus no whitespace normalisation of attributes: the test
    // must see exactly what an XML 1.0 processor reports.
    const auto r = doc.load_buffer(xml.data(), xml.size(),
                                   pugi::parse_default | pugi::parse_declaration);
    BOOST_REQUIRE_MESSAGE(r, "not well-formed: " << r.description() << " at " << r.offset);
  }
  pugi::xml_node envelope() const { return doc.child("soap:Envelope"); }
  pugi::xml_node header() const { return envelope().child("soap:Header"); }
  pugi::xml_node body() const { return envelope().child("soap:Body"); }
};

std::vector<std::string> child_names(pugi::xml_node n) {
  std::vector<std::string> names;
  for (auto c : n.children()) names.emplace_back(c.name());
  return names;
}

envelope_options impersonating(impersonation::kind k, std::string value) {
  envelope_options env;
  env.impersonate = impersonation{k, std::move(value)};
  return env;
}

std::vector<item_id> many_items(std::size_t n) {
  std::vector<item_id> items;
  items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Even items have no ChangeKey (as gromox sends on NewMailEvent).
    items.push_back({"AAMkAGI2TG93AAA=" + std::to_string(i) + nasty,
                     i % 2 ? "CQAAABYAAAA" + std::to_string(i) + "&<'\"" : std::string()});
  }
  return items;
}

const std::vector<event_type> subscribable = {
    event_type::new_mail, event_type::created, event_type::modified,         event_type::deleted,
    event_type::moved,    event_type::copied,  event_type::free_busy_changed,
};

}  // namespace

// --- envelope -----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(envelope)

BOOST_AUTO_TEST_CASE(default_header_and_namespaces) {
  const parsed p(valid(build_unsubscribe({}, "sub-1")));
  // The SOAP 1.1 namespace is http, whatever some Microsoft samples show.
  BOOST_TEST(p.envelope().attribute("xmlns:soap").value() ==
             std::string("http://schemas.xmlsoap.org/soap/envelope/"));
  BOOST_TEST(p.envelope().attribute("xmlns:t").value() ==
             std::string("http://schemas.microsoft.com/exchange/services/2006/types"));
  BOOST_TEST(p.envelope().attribute("xmlns:m").value() ==
             std::string("http://schemas.microsoft.com/exchange/services/2006/messages"));
  BOOST_TEST(p.header().child("t:RequestServerVersion").attribute("Version").value() ==
             std::string("Exchange2013_SP1"));
  BOOST_TEST(!p.header().child("t:ExchangeImpersonation"));
  BOOST_TEST(child_names(p.envelope()) == (std::vector<std::string>{"soap:Header", "soap:Body"}),
             boost::test_tools::per_element());
  BOOST_TEST(p.doc.first_child().type() == pugi::node_declaration);
}

BOOST_AUTO_TEST_CASE(impersonation_kinds) {
  const std::pair<impersonation::kind, const char*> kinds[] = {
      {impersonation::kind::smtp_address, "t:SmtpAddress"},
      {impersonation::kind::principal_name, "t:PrincipalName"},
      {impersonation::kind::sid, "t:SID"},
  };
  for (const auto& [kind, element] : kinds) {
    const std::string value = std::string("o'brien&<co>\"@example.com ") + element;
    const parsed p(valid(build_unsubscribe(impersonating(kind, value), "sub-1")));
    const auto sid = p.header().child("t:ExchangeImpersonation").child("t:ConnectingSID");
    BOOST_TEST(child_names(sid) == std::vector<std::string>{element},
               boost::test_tools::per_element());
    BOOST_TEST(sid.child(element).text().get() == value);
  }
  invalid_argument(build_unsubscribe(impersonating(impersonation::kind::sid, ""), "s"),
                   "env.impersonate.value");
  invalid_argument(
      build_unsubscribe(impersonating(impersonation::kind::smtp_address, "a\x01"), "s"),
      "env.impersonate.value");
  invalid_argument(
      build_unsubscribe(impersonating(static_cast<impersonation::kind>(7), "a"), "s"),
      "env.impersonate.by");
}

BOOST_AUTO_TEST_CASE(every_schema_server_version_is_accepted) {
  // Every ExchangeVersionType value builds and validates against the
  // Exchange Online set; the on-premises set knows all but the newest two.
  std::size_t count = 0;
  for (const std::string_view v : ews::soap::detail::exchange_versions()) {
    envelope_options env;
    env.server_version = std::string(v);
    const std::string xml = built(build_unsubscribe(env, "s"));
    const parsed p(xml);
    BOOST_TEST(p.header().child("t:RequestServerVersion").attribute("Version").value() ==
               env.server_version);
    BOOST_TEST(ews::test::validate_request(xml, schema_set::exchange_online).empty(), v);
    const bool online_only = v == "V2017_10_09" || v == "V2018_01_08";
    BOOST_TEST(ews::test::validate_request(xml, schema_set::onprem_15_2).empty() == !online_only, v);
    ++count;
  }
  BOOST_TEST(count == 21u);
}

BOOST_AUTO_TEST_CASE(unknown_server_versions_are_refused) {
  for (const char* v : {"", "Exchange2013_sp1", "Exchange2019", "Exchange2013_SP1 ",
                        "Exchange2013_SP1\"/><x y=\""}) {
    envelope_options env;
    env.server_version = v;
    invalid_argument(build_unsubscribe(env, "s"), "env.server_version");
  }
}

BOOST_AUTO_TEST_CASE(validator_rejects_what_the_schema_rejects) {
  // Guards against a vacuous validator: wrong shapes must fail.
  const std::string good = built(build_unsubscribe({}, "sub-1"));
  for (const auto set : both_sets) {
    BOOST_TEST(ews::test::validate_request(good, set).empty());
    std::string no_id = good;
    no_id.replace(no_id.find("<m:SubscriptionId>"),
                  std::strlen("<m:SubscriptionId>sub-1</m:SubscriptionId>"), "");
    BOOST_TEST(!ews::test::validate_request(no_id, set).empty());
    std::string https = good;
    https.replace(https.find("http://schemas.xmlsoap.org"), 4, "https");
    BOOST_TEST(!ews::test::validate_request(https, set).empty());
    BOOST_TEST(!ews::test::validate_request(good.substr(0, good.size() - 3), set).empty());
    BOOST_TEST(!ews::test::validate_request(
                    R"(<m:Unsubscribe xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:SubscriptionId>x</m:SubscriptionId></m:Unsubscribe>)",
                    set)
                    .empty());
    std::string version = good;
    version.replace(version.find("Exchange2013_SP1"), 16, "Exchange2099");
    BOOST_TEST(!ews::test::validate_request(version, set).empty());
    // Header children declared by types.xsd are checked too.
    std::string imp = built(build_unsubscribe(
        impersonating(impersonation::kind::sid, "S-1-5"), "sub-1"));
    BOOST_TEST(ews::test::validate_request(imp, set).empty());
    imp.replace(imp.find("<t:SID>"), 7, "<t:Sid>");
    imp.replace(imp.find("</t:SID>"), 8, "</t:Sid>");
    BOOST_TEST(!ews::test::validate_request(imp, set).empty());
  }
}

BOOST_AUTO_TEST_SUITE_END()

// --- Subscribe ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(subscribe)

BOOST_AUTO_TEST_CASE(distinguished_folder_with_and_without_mailbox) {
  const std::string mailbox = "shared&<\"'>@example.com";
  subscribe_request req;
  req.folders = {folder_ref::distinguished_folder("inbox"),
                 folder_ref::distinguished_folder("sentitems", mailbox)};
  req.events = {event_type::new_mail};
  const parsed p(valid(build_subscribe({}, req)));
  const auto sub = p.body().child("m:Subscribe").child("m:StreamingSubscriptionRequest");
  BOOST_TEST(!sub.attribute("SubscribeToAllFolders"));
  BOOST_TEST(child_names(sub) == (std::vector<std::string>{"t:FolderIds", "t:EventTypes"}),
             boost::test_tools::per_element());
  const auto first = sub.child("t:FolderIds").first_child();
  BOOST_TEST(first.name() == std::string("t:DistinguishedFolderId"));
  BOOST_TEST(first.attribute("Id").value() == std::string("inbox"));
  BOOST_TEST(!first.child("t:Mailbox"));
  const auto second = first.next_sibling();
  BOOST_TEST(second.attribute("Id").value() == std::string("sentitems"));
  BOOST_TEST(second.child("t:Mailbox").child("t:EmailAddress").text().get() == mailbox);
  BOOST_TEST(sub.child("t:EventTypes").child("t:EventType").text().get() ==
             std::string("NewMailEvent"));
}

BOOST_AUTO_TEST_CASE(folder_ids_with_and_without_change_key) {
  subscribe_request req;
  req.folders = {folder_ref::by_id("AQMk" + nasty, "AQAAAB" + nasty), folder_ref::by_id("AQMk2")};
  req.events = {event_type::created, event_type::deleted};
  const parsed p(valid(build_subscribe({}, req)));
  const auto ids = p.body().child("m:Subscribe").child("m:StreamingSubscriptionRequest")
                       .child("t:FolderIds");
  const auto a = ids.first_child();
  BOOST_TEST(a.name() == std::string("t:FolderId"));
  BOOST_TEST(a.attribute("Id").value() == "AQMk" + nasty);
  BOOST_TEST(a.attribute("ChangeKey").value() == "AQAAAB" + nasty);
  BOOST_TEST(a.next_sibling().attribute("Id").value() == std::string("AQMk2"));
  BOOST_TEST(!a.next_sibling().attribute("ChangeKey"));
}

BOOST_AUTO_TEST_CASE(all_folders_and_all_event_types) {
  subscribe_request req;
  req.all_folders = true;
  req.events = subscribable;
  for (const auto& env : {envelope_options{},
                          impersonating(impersonation::kind::smtp_address, "u@example.com"),
                          impersonating(impersonation::kind::principal_name, "u@corp.example"),
                          impersonating(impersonation::kind::sid, "S-1-5-21-1-2-3-1001")}) {
    const parsed p(valid(build_subscribe(env, req)));
    const auto sub = p.body().child("m:Subscribe").child("m:StreamingSubscriptionRequest");
    BOOST_TEST(sub.attribute("SubscribeToAllFolders").value() == std::string("true"));
    BOOST_TEST(!sub.child("t:FolderIds"));
    std::vector<std::string> events;
    for (auto e : sub.child("t:EventTypes").children("t:EventType")) events.emplace_back(e.text().get());
    BOOST_TEST(events == (std::vector<std::string>{"NewMailEvent", "CreatedEvent", "ModifiedEvent",
                                                   "DeletedEvent", "MovedEvent", "CopiedEvent",
                                                   "FreeBusyChangedEvent"}),
               boost::test_tools::per_element());
  }
  // All folders plus explicit folders is still schema-valid.
  req.folders = {folder_ref::distinguished_folder("inbox")};
  valid(build_subscribe({}, req));
}

BOOST_AUTO_TEST_CASE(bad_arguments) {
  subscribe_request ok;
  ok.folders = {folder_ref::distinguished_folder("inbox")};
  ok.events = {event_type::new_mail};
  built(build_subscribe({}, ok));

  auto r = ok;
  r.events.clear();
  invalid_argument(build_subscribe({}, r), "events");
  r = ok;
  r.events = {event_type::new_mail, event_type::status};
  invalid_argument(build_subscribe({}, r), "events[1]");
  r = ok;
  r.events = {static_cast<event_type>(42)};
  invalid_argument(build_subscribe({}, r), "events[0]");
  r = ok;
  r.folders.clear();
  invalid_argument(build_subscribe({}, r), "folders");
  r = ok;
  r.folders = {folder_ref::distinguished_folder("inbox"), folder_ref::distinguished_folder("Inbox")};
  invalid_argument(build_subscribe({}, r), "folders[1].id");
  r.folders = {folder_ref::distinguished_folder("nosuchfolder")};
  invalid_argument(build_subscribe({}, r), "folders[0].id");
  r.folders = {folder_ref::by_id("")};
  invalid_argument(build_subscribe({}, r), "folders[0].id");
  r.folders = {folder_ref::distinguished_folder("")};
  invalid_argument(build_subscribe({}, r), "folders[0].id");
  folder_ref with_mailbox = folder_ref::by_id("AQMk");
  with_mailbox.mailbox = "x@example.com";
  r.folders = {with_mailbox};
  invalid_argument(build_subscribe({}, r), "folders[0].mailbox");
  r.folders = {folder_ref::by_id("AQ\x01Mk")};
  invalid_argument(build_subscribe({}, r), "folders[0].id");
  r.folders = {folder_ref::by_id("AQMk", "\xC3")};
  invalid_argument(build_subscribe({}, r), "folders[0].change_key");
  r.folders = {folder_ref::distinguished_folder("inbox", "bad\x1F@example.com")};
  invalid_argument(build_subscribe({}, r), "folders[0].mailbox");
}

BOOST_AUTO_TEST_SUITE_END()

// --- GetStreamingEvents ---------------------------------------------------------

BOOST_AUTO_TEST_SUITE(get_streaming_events)

BOOST_AUTO_TEST_CASE(one_and_two_hundred_ids) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{200}}) {
    get_streaming_events_request req;
    for (std::size_t i = 0; i < n; ++i) req.subscription_ids.push_back("sub-" + std::to_string(i) + nasty);
    req.connection_timeout_minutes = n == 1 ? 1 : 30;
    const parsed p(valid(build_get_streaming_events(
        impersonating(impersonation::kind::smtp_address, "u@example.com"), req)));
    const auto gse = p.body().child("m:GetStreamingEvents");
    BOOST_TEST(child_names(gse) ==
                   (std::vector<std::string>{"m:SubscriptionIds", "m:ConnectionTimeout"}),
               boost::test_tools::per_element());
    std::vector<std::string> ids;
    for (auto id : gse.child("m:SubscriptionIds").children("t:SubscriptionId")) {
      ids.emplace_back(id.text().get());
    }
    BOOST_TEST(ids == req.subscription_ids, boost::test_tools::per_element());
    BOOST_TEST(gse.child("m:ConnectionTimeout").text().as_int() == req.connection_timeout_minutes);
  }
}

BOOST_AUTO_TEST_CASE(bad_arguments) {
  get_streaming_events_request req;
  invalid_argument(build_get_streaming_events({}, req), "subscription_ids");
  req.subscription_ids.assign(201, "sub");
  invalid_argument(build_get_streaming_events({}, req), "subscription_ids");
  req.subscription_ids.assign(200, "sub");
  built(build_get_streaming_events({}, req));
  req.subscription_ids[57].clear();
  invalid_argument(build_get_streaming_events({}, req), "subscription_ids[57]");
  req.subscription_ids[57] = "s\x7F\xFF";
  invalid_argument(build_get_streaming_events({}, req), "subscription_ids[57]");
  req.subscription_ids.assign(1, "sub");
  for (int t : {0, 31, -1, 1000}) {
    req.connection_timeout_minutes = t;
    invalid_argument(build_get_streaming_events({}, req), "connection_timeout_minutes");
  }
}

BOOST_AUTO_TEST_SUITE_END()

// --- Unsubscribe ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(unsubscribe)

BOOST_AUTO_TEST_CASE(round_trip) {
  const parsed p(valid(build_unsubscribe({}, "sub" + nasty)));
  BOOST_TEST(p.body().child("m:Unsubscribe").child("m:SubscriptionId").text().get() ==
             "sub" + nasty);
  invalid_argument(build_unsubscribe({}, ""), "subscription_id");
  invalid_argument(build_unsubscribe({}, std::string("a\0b", 3)), "subscription_id");
}

BOOST_AUTO_TEST_SUITE_END()

// --- GetItem ----------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(get_item)

BOOST_AUTO_TEST_CASE(ids_and_change_keys_round_trip) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{200}, std::size_t{500}}) {
    get_item_request req;
    req.items = many_items(n);
    const parsed p(valid(build_get_item({}, req)));
    const auto gi = p.body().child("m:GetItem");
    BOOST_TEST(child_names(gi) == (std::vector<std::string>{"m:ItemShape", "m:ItemIds"}),
               boost::test_tools::per_element());
    std::vector<item_id> got;
    for (auto id : gi.child("m:ItemIds").children()) {
      BOOST_TEST(id.name() == std::string("t:ItemId"));
      // An empty ChangeKey is left out, not written as ChangeKey="".
      BOOST_TEST(static_cast<bool>(id.attribute("ChangeKey")) == !req.items[got.size()].change_key.empty());
      got.push_back({id.attribute("Id").value(), id.attribute("ChangeKey").value()});
    }
    BOOST_TEST_REQUIRE(got.size() == n);
    BOOST_TEST((got == req.items));
  }
}

BOOST_AUTO_TEST_CASE(shapes) {
  get_item_request req;
  req.items = {{"AAMk1", "CQA1"}};

  // IdOnly + body: the body has to be asked for by name.
  req.shape.include_body = true;
  req.shape.body = body_type::text;
  {
    const parsed p(valid(build_get_item({}, req)));
    const auto shape = p.body().child("m:GetItem").child("m:ItemShape");
    BOOST_TEST(child_names(shape) == (std::vector<std::string>{"t:BaseShape", "t:BodyType",
                                                               "t:AdditionalProperties"}),
               boost::test_tools::per_element());
    BOOST_TEST(shape.child("t:BaseShape").text().get() == std::string("IdOnly"));
    BOOST_TEST(shape.child("t:BodyType").text().get() == std::string("Text"));
    BOOST_TEST(shape.child("t:AdditionalProperties").child("t:FieldURI").attribute("FieldURI").value() ==
               std::string("item:Body"));
  }

  // AllProperties + MIME + HTML body + impersonation.
  req.shape = {};
  req.shape.base_shape = item_shape::base::all_properties;
  req.shape.include_mime_content = true;
  req.shape.include_body = true;
  req.shape.body = body_type::html;
  {
    const parsed p(valid(build_get_item(impersonating(impersonation::kind::sid, "S-1-5-21"), req)));
    const auto shape = p.body().child("m:GetItem").child("m:ItemShape");
    BOOST_TEST(child_names(shape) == (std::vector<std::string>{"t:BaseShape", "t:IncludeMimeContent",
                                                               "t:BodyType"}),
               boost::test_tools::per_element());
    BOOST_TEST(shape.child("t:BaseShape").text().get() == std::string("AllProperties"));
    BOOST_TEST(shape.child("t:IncludeMimeContent").text().get() == std::string("true"));
    BOOST_TEST(shape.child("t:BodyType").text().get() == std::string("HTML"));
  }

  // Default + additional properties (item:Body given explicitly is not repeated) + Best body.
  req.shape = {};
  req.shape.base_shape = item_shape::base::default_shape;
  req.shape.additional_properties = {"item:Subject", "message:InternetMessageId",
                                     "item:DateTimeReceived", "item:Body", "message:From"};
  req.shape.include_body = true;
  req.shape.body = body_type::best;
  {
    const parsed p(valid(build_get_item({}, req)));
    const auto shape = p.body().child("m:GetItem").child("m:ItemShape");
    BOOST_TEST(shape.child("t:BaseShape").text().get() == std::string("Default"));
    BOOST_TEST(shape.child("t:BodyType").text().get() == std::string("Best"));
    std::vector<std::string> uris;
    for (auto f : shape.child("t:AdditionalProperties").children("t:FieldURI")) {
      uris.emplace_back(f.attribute("FieldURI").value());
    }
    BOOST_TEST(uris == req.shape.additional_properties, boost::test_tools::per_element());
  }

  // IdOnly, nothing else: the minimal shape.
  req.shape = {};
  {
    const parsed p(valid(build_get_item({}, req)));
    BOOST_TEST(child_names(p.body().child("m:GetItem").child("m:ItemShape")) ==
                   std::vector<std::string>{"t:BaseShape"},
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(bad_arguments) {
  get_item_request req;
  invalid_argument(build_get_item({}, req), "items");
  req.items = {{"a", ""}, {"b", "c"}, {"", "d"}};
  invalid_argument(build_get_item({}, req), "items[2].id");
  req.items = {{"a", ""}, {"b\x0B", "c"}};
  invalid_argument(build_get_item({}, req), "items[1].id");
  req.items = {{"a", ""}, {"b", "\xED\xA0\x80"}};  // a UTF-16 surrogate
  invalid_argument(build_get_item({}, req), "items[1].change_key");
  req.items = {{"a", ""}};
  req.shape.additional_properties = {"item:Subject", "item:subject"};
  invalid_argument(build_get_item({}, req), "shape.additional_properties[1]");
  req.shape.additional_properties = {"item:Subject\"/><x a=\""};
  invalid_argument(build_get_item({}, req), "shape.additional_properties[0]");
  req.shape.additional_properties = {};
  req.shape.base_shape = static_cast<item_shape::base>(9);
  invalid_argument(build_get_item({}, req), "shape.base_shape");
  req.shape.base_shape = item_shape::base::id_only;
  req.shape.body = static_cast<body_type>(9);
  invalid_argument(build_get_item({}, req), "shape.body");
}

BOOST_AUTO_TEST_CASE(build_rate_for_large_batches) {
  // Not a timing assertion: prints the rate for the report, and proves a
  // large batch builds without quadratic behaviour in reasonable time.
  get_item_request req;
  for (int i = 0; i < 300; ++i) {
    req.items.push_back({"AAMkAGI2TG93AAAuAAAAAAAaUZWnlYTnQIP6sZFuvTqDAQCPBXfsBBZdQ6hnR3pqbhcbAAAAAAEMAAA=" +
                             std::to_string(i),
                         "CQAAABYAAAAPBXfsBBZdQ6hnR3pqbhcbAAAAAD"});
  }
  req.shape.base_shape = item_shape::base::all_properties;
  req.shape.include_mime_content = true;
  constexpr int rounds = 500;
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) bytes += built(build_get_item({}, req)).size();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("GetItem x300 ids: " << rounds / took.count() << " requests/s, "
                                           << bytes / took.count() / 1e6 << " MB/s");
  BOOST_TEST(bytes > rounds * 300u * 100u);

  // The schema is parsed once per process: validation costs only the
  // document itself (other suites validate thousands of requests).
  const std::string xml = built(build_get_item({}, req));
  constexpr int checks = 50;
  const auto vstart = std::chrono::steady_clock::now();
  for (int i = 0; i < checks; ++i) {
    BOOST_TEST(ews::test::validate_request(xml, schema_set::exchange_online).empty());
  }
  const std::chrono::duration<double> vtook = std::chrono::steady_clock::now() - vstart;
  BOOST_TEST_MESSAGE("schema validation of that request: " << checks / vtook.count() << " per s");
}

BOOST_AUTO_TEST_SUITE_END()

// --- SyncFolderItems --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(sync_folder_items)

BOOST_AUTO_TEST_CASE(first_and_later_pages) {
  sync_folder_items_request req;
  req.folder = folder_ref::distinguished_folder("inbox", "o'hara&<co>@example.com");
  {
    const parsed p(valid(build_sync_folder_items({}, req)));
    const auto sfi = p.body().child("m:SyncFolderItems");
    // No SyncState on the first page.
    BOOST_TEST(child_names(sfi) == (std::vector<std::string>{"m:ItemShape", "m:SyncFolderId",
                                                             "m:MaxChangesReturned"}),
               boost::test_tools::per_element());
    const auto folder = sfi.child("m:SyncFolderId").child("t:DistinguishedFolderId");
    BOOST_TEST(folder.attribute("Id").value() == std::string("inbox"));
    BOOST_TEST(folder.child("t:Mailbox").child("t:EmailAddress").text().get() ==
               std::string("o'hara&<co>@example.com"));
    BOOST_TEST(sfi.child("m:MaxChangesReturned").text().as_int() == 512);
  }
  req.folder = folder_ref::by_id("AQMk" + nasty, "AQAAAB");
  req.sync_state = "H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBA" + nasty;
  req.max_changes_returned = 1;
  req.shape.base_shape = item_shape::base::default_shape;
  req.shape.additional_properties = {"item:ItemClass"};
  {
    const parsed p(valid(build_sync_folder_items(
        impersonating(impersonation::kind::principal_name, "u@corp.example"), req)));
    const auto sfi = p.body().child("m:SyncFolderItems");
    BOOST_TEST(child_names(sfi) == (std::vector<std::string>{"m:ItemShape", "m:SyncFolderId",
                                                             "m:SyncState", "m:MaxChangesReturned"}),
               boost::test_tools::per_element());
    const auto folder = sfi.child("m:SyncFolderId").child("t:FolderId");
    BOOST_TEST(folder.attribute("Id").value() == "AQMk" + nasty);
    BOOST_TEST(folder.attribute("ChangeKey").value() == std::string("AQAAAB"));
    BOOST_TEST(sfi.child("m:SyncState").text().get() == req.sync_state);
    BOOST_TEST(sfi.child("m:MaxChangesReturned").text().as_int() == 1);
  }
}

BOOST_AUTO_TEST_CASE(bad_arguments) {
  sync_folder_items_request req;
  req.folder = folder_ref::distinguished_folder("inbox");
  built(build_sync_folder_items({}, req));
  for (int n : {0, 513, -5}) {
    req.max_changes_returned = n;
    invalid_argument(build_sync_folder_items({}, req), "max_changes_returned");
  }
  req.max_changes_returned = 100;
  req.folder = folder_ref::distinguished_folder("outbox2");
  invalid_argument(build_sync_folder_items({}, req), "folder.id");
  req.folder = folder_ref::by_id("");
  invalid_argument(build_sync_folder_items({}, req), "folder.id");
  req.folder = folder_ref::distinguished_folder("inbox");
  req.sync_state = "abc\x02";
  invalid_argument(build_sync_folder_items({}, req), "sync_state");
  req.sync_state.clear();
  req.shape.additional_properties = {"item:NoSuchField"};
  invalid_argument(build_sync_folder_items({}, req), "shape.additional_properties[0]");
}

BOOST_AUTO_TEST_SUITE_END()

// --- arbitrary strings -------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(arbitrary_strings)

// Any byte string is either carried exactly (as an attribute and as text) or
// refused with invalid_argument; never a broken or restructured document.
BOOST_AUTO_TEST_CASE(carried_exactly_or_refused) {
  const std::string pieces[] = {"a", "&", "<", ">", "\"", "'", "]]>", "\t", "\n", "\r", "\r\n",
                                "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3",
                                "\x80", "\xED\xA0\x80", "\xEF\xBF\xBF", std::string(1, '\0'),
                                "\x01", "\x7F", "&amp;", "<!--", "<![CDATA["};
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  int carried = 0, refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string value;
    const std::size_t n = 1 + next() % 8;
    for (std::size_t i = 0; i < n; ++i) value += pieces[(next() >> 8) % std::size(pieces)];
    const bool representable = ews::soap::detail::check_xml_value(value).why ==
                               ews::soap::detail::xml_value_error::reason::none;
    get_item_request req;
    req.items = {{"x", ""}, {value, value}};
    const auto item = build_get_item({}, req);
    const auto unsub = build_unsubscribe({}, value);
    if (!representable) {
      invalid_argument(item, "items[1].id");
      invalid_argument(unsub, "subscription_id");
      ++refused;
      continue;
    }
    const parsed a(built(item));
    const auto id = a.body().child("m:GetItem").child("m:ItemIds").last_child();
    BOOST_TEST(id.attribute("Id").value() == value);
    BOOST_TEST(id.attribute("ChangeKey").value() == value);
    const parsed b(built(unsub));
    BOOST_TEST(b.body().child("m:Unsubscribe").child("m:SubscriptionId").text().get() == value);
    if (round % 50 == 0) {
      for (const auto set : both_sets) {
        BOOST_TEST(ews::test::validate_request(*item, set).empty());
        BOOST_TEST(ews::test::validate_request(*unsub, set).empty());
      }
    }
    ++carried;
  }
  BOOST_TEST(carried > 100);
  BOOST_TEST(refused > 100);
}

BOOST_AUTO_TEST_SUITE_END()

// --- the XML writer's edge cases --------------------------------------------------

BOOST_AUTO_TEST_SUITE(xml_writer)

using ews::soap::detail::check_xml_value;
using reason = ews::soap::detail::xml_value_error::reason;

std::string text_of(std::string_view value, bool as_attribute) {
  ews::soap::detail::xml_writer w;
  w.start("e");
  const bool ok = as_attribute ? w.attribute("a", value) : w.text(value);
  BOOST_REQUIRE(ok);
  w.end();
  return std::move(w).finish();
}

BOOST_AUTO_TEST_CASE(escapes) {
  BOOST_TEST(text_of("a&b<c>d\"e'f", false) == "<e>a&amp;b&lt;c&gt;d&quot;e&apos;f</e>");
  BOOST_TEST(text_of("a&b<c>d\"e'f", true) == "<e a=\"a&amp;b&lt;c&gt;d&quot;e&apos;f\"/>");
  BOOST_TEST(text_of("t\tl\nr\r", true) == "<e a=\"t&#9;l&#10;r&#13;\"/>");
  BOOST_TEST(text_of("t\tl\nr\r", false) == "<e>t\tl\nr&#13;</e>");
  BOOST_TEST(text_of("", false) == "<e/>");
  BOOST_TEST(text_of("\xC3\xA9\xF4\x8F\xBF\xBF\xEF\xBF\xBD", false) ==
             "<e>\xC3\xA9\xF4\x8F\xBF\xBF\xEF\xBF\xBD</e>");
}

BOOST_AUTO_TEST_CASE(refuses_what_xml_cannot_carry) {
  struct bad {
    std::string value;
    reason why;
    std::size_t offset;
  };
  const bad cases[] = {
      {std::string("ab\0", 3), reason::control_character, 2},
      {"\x01", reason::control_character, 0},
      {"ok\x1F", reason::control_character, 2},
      {"x\x80", reason::not_utf8, 1},               // lone continuation byte
      {"x\xC0\x80", reason::not_utf8, 1},           // overlong NUL
      {"\xC1\xBF", reason::not_utf8, 0},            // overlong
      {"\xE0\x80\x80", reason::not_utf8, 0},        // overlong 3-byte
      {"\xED\xA0\x80", reason::not_utf8, 0},        // surrogate
      {"\xF0\x80\x80\x80", reason::not_utf8, 0},    // overlong 4-byte
      {"\xF4\x90\x80\x80", reason::not_utf8, 0},    // above U+10FFFF
      {"\xF5\x80\x80\x80", reason::not_utf8, 0},
      {"abc\xE2\x82", reason::not_utf8, 3},         // truncated
      {"\xC3(", reason::not_utf8, 0},               // bad continuation
      {"\xFF", reason::not_utf8, 0},
      {"\xEF\xBF\xBE", reason::noncharacter, 0},    // U+FFFE
      {"z\xEF\xBF\xBF", reason::noncharacter, 1},   // U+FFFF
  };
  for (const auto& c : cases) {
    const auto e = check_xml_value(c.value);
    BOOST_TEST((e.why == c.why), c.value);
    BOOST_TEST(e.offset == c.offset, c.value);
    for (const bool as_attribute : {false, true}) {
      ews::soap::detail::xml_writer w;
      w.start("e");
      const bool ok = as_attribute ? w.attribute("a", c.value) : w.text(c.value);
      BOOST_TEST(!ok);
      BOOST_TEST((w.last_error().why == c.why));
      BOOST_TEST(w.last_error().offset == c.offset);
      w.end();
      // Nothing of the refused value was written.
      BOOST_TEST(std::move(w).finish() == "<e/>");
    }
  }
  BOOST_TEST(check_xml_value("\x01").describe() ==
             "contains U+0001 at byte 0, which XML 1.0 cannot carry");
  BOOST_TEST(check_xml_value("ab\xFF").describe() == "is not valid UTF-8 at byte 2");
  BOOST_TEST((check_xml_value("plain \t\r\n\x7F \xC2\x80").why == reason::none));
}

BOOST_AUTO_TEST_CASE(nesting_and_numbers) {
  ews::soap::detail::xml_writer w;
  w.declaration();
  w.start("a");
  BOOST_TEST(w.attribute("x", "1"));
  w.start("b");
  w.end();
  w.element("n", 512LL);
  BOOST_TEST(w.element("c", "t"));
  w.end();
  BOOST_TEST(std::move(w).finish() ==
             R"(<?xml version="1.0" encoding="utf-8"?><a x="1"><b/><n>512</n><c>t</c></a>)");
}

BOOST_AUTO_TEST_SUITE_END()
