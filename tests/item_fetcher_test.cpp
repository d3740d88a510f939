// The item fetcher (issue 5): notifications -> GetItem batches -> outcomes,
// exactly once. Unit tests over the scripted fake transport with a manual
// clock, then the same promises over real HTTP against the replay server.
// GetItem answers are generated from recorded server answers
// (gromox 04-getitem, Exchange Online MailAPITest/APITest recordings).

#include <ews/dedupe_window.hpp>
#include <ews/item_fetcher.hpp>
#include <ews/soap/service_client.hpp>
#include <ews/testing/replay_server.hpp>

#include "fake_transport.hpp"
#include "schema_validator.hpp"

#include <boost/test/unit_test.hpp>
#include <pugixml.hpp>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using ews::errc;
using ews::event_type;
using ews::item_outcome;
using ews::mailbox_event;
using ews::outcome_kind;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing file " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string wire(const std::string& relative) {
  return read_file(std::string(EWS_TEST_DIR) + "/fixtures/wire/" + relative);
}

std::string scenario_dir(const std::string& name) {
  return std::string(EWS_TEST_DIR) + "/fixtures/scenarios/" + name;
}

std::string between(const std::string& text, const std::string& from, const std::string& to, bool inclusive) {
  const auto a = text.find(from);
  const auto b = text.find(to, a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) throw std::runtime_error("template marker missing: " + from);
  return inclusive ? text.substr(a, b + to.size() - a) : text.substr(a + from.size(), b - a - from.size());
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

std::string xml_escape(const std::string& s) {
  return replace_all(replace_all(replace_all(s, "&", "&amp;"), "<", "&lt;"), "\"", "&quot;");
}

// ---- What a GetItem request asked for ----------------------------------------

struct asked_id {
  std::string id;
  std::string change_key;
  bool has_change_key = false;
};

struct get_item_request_info {
  std::vector<asked_id> ids;
  std::string impersonated;  // ExchangeImpersonation SmtpAddress, "" if none
  std::string body_type;     // ItemShape/BodyType, "" if none
  std::vector<std::string> field_uris;
};

bool local_is(const pugi::xml_node& n, const char* local) {
  const char* name = n.name();
  const char* colon = std::strrchr(name, ':');
  return std::strcmp(colon ? colon + 1 : name, local) == 0;
}

template <class F>
void walk(const pugi::xml_node& n, F&& f) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    f(c);
    walk(c, f);
  }
}

get_item_request_info parse_get_item(const std::string& body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) throw std::runtime_error("request is not XML");
  get_item_request_info info;
  walk(doc, [&](const pugi::xml_node& n) {
    if (local_is(n, "ItemId") && local_is(n.parent(), "ItemIds")) {
      const auto ck = n.attribute("ChangeKey");
      info.ids.push_back({n.attribute("Id").value(), ck.value(), !ck.empty()});
    } else if (local_is(n, "SmtpAddress") && local_is(n.parent().parent(), "ExchangeImpersonation")) {
      info.impersonated = n.text().get();
    } else if (local_is(n, "BodyType")) {
      info.body_type = n.text().get();
    } else if (local_is(n, "FieldURI") && n.attribute("FieldURI")) {
      info.field_uris.push_back(n.attribute("FieldURI").value());
    }
  });
  return info;
}

std::string header_value(const ews::soap::http_headers& headers, const std::string& name) {
  return ews::soap::find_header(headers, name).value_or("");
}

// ---- GetItem answers built from recorded ones ------------------------------

enum class answer_kind { item, not_found, server_busy_item };

// The envelope of an Exchange Online GetItem answer (garethp
// MailAPITest.testGetSingleMailItem.10), the Message of gromox's answer
// (04-getitem), and Exchange Online's ErrorItemNotFound message (garethp
// APITest.testDeleteItemsFail.03, as GetItemResponseMessage).
class wire_answers {
 public:
  wire_answers() {
    const std::string online = wire("garethp-php-ews/extracted/MailAPITest.testGetSingleMailItem.10-response-200.xml");
    head_ = online.substr(0, online.find("<m:ResponseMessages>") + std::string("<m:ResponseMessages>").size());
    tail_ = online.substr(online.find("</m:ResponseMessages>"));
    const std::string gromox = wire("gromox-captures/04-getitem.response.xml");
    std::string message = between(gromox, "<t:Message>", "</t:Message>", true);
    message = std::regex_replace(message, std::regex("<t:ItemId [^>]*/>"), "@ITEMID@");
    message = replace_all(message, "<t:Subject>EWS streaming test 1</t:Subject>", "<t:Subject>@SUBJECT@</t:Subject>");
    message_ = message;
    const std::string gone = wire("garethp-php-ews/extracted/APITest.testDeleteItemsFail.03-response-200.xml");
    not_found_ = replace_all(between(gone, "<m:DeleteItemResponseMessage", "</m:DeleteItemResponseMessage>", true),
                             "DeleteItemResponseMessage", "GetItemResponseMessage");
  }

  /// The ChangeKey the server returns: the one asked for, or one it knows
  /// (ids asked without one, as gromox notifies), or `current` overrides.
  std::string returned_change_key(const asked_id& a) const {
    auto it = current.find(a.id);
    if (it != current.end()) return it->second;
    return a.has_change_key ? a.change_key : "CK-" + a.id;
  }

  static std::string subject_of(const std::string& id) { return "Subject of " + id; }

  std::string answer(const std::vector<asked_id>& ids,
                     const std::function<answer_kind(const asked_id&)>& decide = {}) const {
    std::string out = head_;
    for (const asked_id& a : ids) {
      switch (decide ? decide(a) : answer_kind::item) {
        case answer_kind::item: {
          std::string m = replace_all(message_, "@ITEMID@",
                                      "<t:ItemId Id=\"" + xml_escape(a.id) + "\" ChangeKey=\"" +
                                          xml_escape(returned_change_key(a)) + "\"/>");
          out += "<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Items>" +
                 replace_all(m, "@SUBJECT@", xml_escape(subject_of(a.id))) + "</m:Items></m:GetItemResponseMessage>";
          break;
        }
        case answer_kind::not_found:
          out += not_found_;
          break;
        case answer_kind::server_busy_item:
          out += "<m:GetItemResponseMessage ResponseClass=\"Error\"><m:MessageText>The server cannot service this "
                 "request right now. Try again later.</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode>"
                 "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml><t:Value Name=\"BackOffMilliseconds\">"
                 "2000</t:Value></m:MessageXml></m:GetItemResponseMessage>";
          break;
      }
    }
    return out + tail_;
  }

  std::map<std::string, std::string> current;  // id -> ChangeKey the server now has

 private:
  std::string head_, tail_, message_, not_found_;
};

/// kde-akonadi's ErrorServerBusy fault (HTTP 500), with the BackOffMilliseconds
/// value Exchange adds when it wants the client to wait.
std::string server_busy_fault(int back_off_ms) {
  std::string fault = wire("kde-akonadi-ews/errorserverbusy.xml");
  return replace_all(fault, "<t:Value Name=\"Policy\">",
                     "<t:Value Name=\"BackOffMilliseconds\">" + std::to_string(back_off_ms) +
                         "</t:Value>\n          <t:Value Name=\"Policy\">");
}

// ---- Events and outcomes ----------------------------------------------------

mailbox_event item_event(event_type type, std::string id, std::string change_key = {}, std::string mailbox = {}) {
  mailbox_event e;
  e.mailbox = std::move(mailbox);
  e.subscription_id = "sub-1";
  e.event.type = type;
  e.event.timestamp = "2026-11-22T17:54:23Z";
  e.event.item = {std::move(id), std::move(change_key)};
  e.event.parent_folder_id = "inbox-folder-id";
  return e;
}

mailbox_event new_mail(std::string id, std::string change_key = {}, std::string mailbox = {}) {
  return item_event(event_type::new_mail, std::move(id), std::move(change_key), std::move(mailbox));
}

std::string id_n(int n) {
  // Shaped like Exchange ids (base64, long), distinct per n.
  return "AAMkAGM0N2Q1NmIyLWZkOTYtNDUzMi04MzM4LTczZDljOGM4OWNiZgBGAAAAAAA5BTDj02oBRKpdOCyb7R" +
         std::to_string(100000 + n) + "AAA=";
}
std::string ck_n(int n) { return "CQAAABYAAACzH/qwpZTUR64kCgQ9LRICAAS" + std::to_string(100000 + n); }

// Bounded wait for a condition no callback signals (counters, requests).
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class collector {
 public:
  void add(item_outcome&& o) {
    std::lock_guard<std::mutex> lock(mutex_);
    outcomes_.push_back(std::move(o));
    changed_.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return outcomes_.size() >= n; });
  }
  std::vector<item_outcome> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(outcomes_);
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_.size();
  }
  std::size_t count(outcome_kind k) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const auto& o : outcomes_) n += o.kind == k ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<item_outcome> outcomes_;
};

class error_log {
 public:
  void add(const ews::error_info& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.push_back(e);
  }
  std::vector<ews::error_info> all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return errors_;
  }
  std::size_t count(errc kind) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const auto& e : errors_) n += e.kind() == kind ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<ews::error_info> errors_;
};

// A latch the on_ready callback sets and the producer consumes.
class ready_signal {
 public:
  void set() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = true;
    ++count_;
    changed_.notify_all();
  }
  bool wait_and_reset(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return set_; })) return false;
    set_ = false;
    return true;
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool set_ = false;
  int count_ = 0;
};

// A fetcher over the fake transport and a manual clock, answering GetItem
// from `answers` unless a test scripts something else first.
struct fake_rig {
  explicit fake_rig(std::function<void(ews::item_fetcher_options&)> tune = {}) {
    http->set_fallback([this](const ews::soap::http_request& r) -> ews::result<ews::soap::http_response> {
      const auto info = parse_get_item(r.body);
      return ews::test::make_response(200, answers.answer(info.ids, decide));
    });
    ews::soap::service_options so;
    so.url = "https://exchange.test/EWS/Exchange.asmx";
    so.http = http;
    ews::item_fetcher_options o;
    o.service = std::make_shared<ews::soap::service_client>(so);
    o.time = clock;
    o.on_outcome = [this](item_outcome&& x) { outcomes.add(std::move(x)); };
    o.on_error = [this](const ews::error_info& e) { errors.add(e); };
    o.on_ready = [this] { ready.set(); };
    if (tune) tune(o);
    fetcher = std::make_unique<ews::item_fetcher>(std::move(o));
  }

  std::vector<get_item_request_info> get_items() const {
    std::vector<get_item_request_info> out;
    for (const auto& r : http->requests()) out.push_back(parse_get_item(r.body));
    return out;
  }

  std::shared_ptr<ews::test::fake_transport> http = std::make_shared<ews::test::fake_transport>();
  std::shared_ptr<ews::manual_clock> clock = std::make_shared<ews::manual_clock>();
  wire_answers answers;
  std::function<answer_kind(const asked_id&)> decide;
  collector outcomes;
  error_log errors;
  ready_signal ready;
  std::unique_ptr<ews::item_fetcher> fetcher;  // last: stopped first
};

}  // namespace

// ---- unit tests: fake transport, manual clock ---------------------------------

BOOST_AUTO_TEST_SUITE(item_fetcher_unit)

BOOST_AUTO_TEST_CASE(default_shape_asks_for_listener_fields_without_body) {
  const auto shape = ews::default_item_shape();
  BOOST_TEST((shape.base_shape == ews::soap::item_shape::base::id_only));
  BOOST_TEST(!shape.include_body);
  BOOST_TEST(!shape.include_mime_content);
  const std::set<std::string> uris(shape.additional_properties.begin(), shape.additional_properties.end());
  // Every one is a types.xsd UnindexedFieldURIType value.
  const std::string types = read_file(std::string(EWS_TEST_DIR) + "/schema/types.xsd");
  for (const auto& u : uris) BOOST_TEST(types.find("<xs:enumeration value=\"" + u + "\"") != std::string::npos, u);
  for (const char* u : {"item:Subject", "message:From", "message:ToRecipients", "message:CcRecipients",
                        "item:DateTimeReceived", "item:DateTimeSent", "message:InternetMessageId", "item:Size",
                        "message:IsRead", "item:Attachments"}) {
    BOOST_TEST(uris.count(u) == 1u, u);
  }
}

BOOST_AUTO_TEST_CASE(invalid_options_are_refused) {
  ews::item_fetcher_options o;
  o.on_outcome = [](item_outcome&&) {};
  BOOST_CHECK_EXCEPTION(ews::item_fetcher{o}, ews::error,
                        [](const ews::error& e) { return e.info().kind() == errc::invalid_argument; });
  ews::soap::service_options so;
  so.http = std::make_shared<ews::test::fake_transport>();
  o.service = std::make_shared<ews::soap::service_client>(so);
  o.batch_size = 0;
  BOOST_CHECK_THROW(ews::item_fetcher{o}, ews::error);
  o.batch_size = 50;
  o.queue_limit = 0;
  BOOST_CHECK_THROW(ews::item_fetcher{o}, ews::error);
}

BOOST_AUTO_TEST_CASE(thousand_notifications_become_thousand_items_in_valid_batches) {
  fake_rig rig([](ews::item_fetcher_options& o) { o.queue_limit = 2000; });
  const std::string mailboxes[] = {"", "alice@contoso.com", "bob@contoso.com"};
  for (int i = 0; i < 1000; ++i) {
    BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i), mailboxes[i % 3])));
  }
  // Full batches went at once; the three partial ones wait for their linger.
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(1000));
  BOOST_TEST(rig.fetcher->drain(5s));

  const auto outcomes = rig.outcomes.take();
  BOOST_TEST(outcomes.size() == 1000u);
  std::set<std::string> delivered;
  for (const auto& o : outcomes) {
    BOOST_REQUIRE((o.kind == outcome_kind::fetched));
    BOOST_REQUIRE(o.value.has_value());
    BOOST_TEST(o.value->id.id == o.source.event.item.id);
    BOOST_TEST(o.value->id.change_key == o.source.event.item.change_key);
    BOOST_TEST(o.value->subject == wire_answers::subject_of(o.source.event.item.id));
    BOOST_TEST(o.value->from.has_value());
    delivered.insert(o.value->id.id);
  }
  BOOST_TEST(delivered.size() == 1000u);

  // 334 + 333 + 333 ids: 6 full batches and one partial per mailbox.
  const auto requests = rig.http->requests();
  BOOST_TEST(requests.size() == 21u);
  std::size_t ids = 0;
  for (const auto& r : requests) {
    const auto info = parse_get_item(r.body);
    BOOST_TEST(info.ids.size() <= 50u);
    ids += info.ids.size();
    for (const auto& a : info.ids) BOOST_TEST(a.has_change_key, "ItemId without ChangeKey: " << a.id);
    BOOST_TEST(info.impersonated == header_value(r.headers, "X-AnchorMailbox"));
    BOOST_TEST(info.body_type == "");  // no body unless asked
    const std::string problems = ews::test::validate_request(r.body, ews::test::schema_set::exchange_online);
    BOOST_TEST(problems.empty(), problems);
  }
  BOOST_TEST(ids == 1000u);

  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.submitted == 1000u);
  BOOST_TEST(c.fetched == 1000u);
  BOOST_TEST(c.batches == 21u);
  BOOST_TEST(c.get_item_calls == 21u);
  BOOST_TEST(c.largest_batch == 50u);
  BOOST_TEST(c.duplicates == 0u);
  BOOST_TEST(c.in_progress == 0u);
  BOOST_TEST(rig.errors.all().empty());
}

BOOST_AUTO_TEST_CASE(items_not_found_are_gone_and_the_rest_fetched) {
  fake_rig rig;
  const std::set<std::string> vanished{id_n(3), id_n(17), id_n(42)};
  rig.decide = [&](const asked_id& a) { return vanished.count(a.id) ? answer_kind::not_found : answer_kind::item; };
  for (int i = 0; i < 50; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  BOOST_REQUIRE(rig.outcomes.wait_for(50));
  BOOST_TEST(rig.outcomes.count(outcome_kind::fetched) == 47u);
  BOOST_TEST(rig.outcomes.count(outcome_kind::gone) == 3u);
  for (const auto& o : rig.outcomes.take()) {
    if (o.kind != outcome_kind::gone) continue;
    BOOST_TEST(vanished.count(o.source.event.item.id) == 1u);
    BOOST_REQUIRE(o.error.has_value());
    BOOST_TEST(o.error->response_code_text == "ErrorItemNotFound");
    BOOST_TEST(!o.value.has_value());
  }
  BOOST_TEST(rig.http->request_count() == 1u);

  // A repeated notification of a vanished item is not fetched again.
  BOOST_TEST(rig.fetcher->offer(new_mail(id_n(17), ck_n(17))));
  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.gone == 3u);
  BOOST_TEST(c.fetched == 47u);
  BOOST_TEST(c.duplicates == 1u);
  BOOST_TEST(rig.http->request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_notifications_deliver_one_item) {
  fake_rig rig;
  // The same event three times (a stream re-sent after a reconnect).
  for (int k = 0; k < 3; ++k) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  // Created then Modified: by the time of the fetch both name the newest version.
  rig.answers.current[id_n(2)] = ck_n(202);
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::created, id_n(2), ck_n(2))));
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::modified, id_n(2), ck_n(202))));
  rig.clock->advance(5ms);
  BOOST_TEST(rig.fetcher->drain(10s));
  BOOST_TEST(rig.outcomes.size() == 2u);

  // After delivery: the same version again is absorbed without a request.
  const auto sent = rig.http->request_count();
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::created, id_n(2), ck_n(2))));
  BOOST_TEST(rig.http->request_count() == sent);

  // gromox sends NewMail without a ChangeKey: fetched by id, deduplicated on
  // the ChangeKey GetItem returns.
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(3))));
  rig.clock->advance(5ms);
  BOOST_TEST(rig.fetcher->drain(10s));
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(3))));
  rig.clock->advance(5ms);
  BOOST_TEST(rig.fetcher->drain(10s));

  const auto outcomes = rig.outcomes.take();
  BOOST_TEST(outcomes.size() == 3u);
  std::multiset<std::string> ids;
  for (const auto& o : outcomes) ids.insert(o.value ? o.value->id.id : "?");
  BOOST_TEST(ids.count(id_n(1)) == 1u);
  BOOST_TEST(ids.count(id_n(2)) == 1u);
  BOOST_TEST(ids.count(id_n(3)) == 1u);
  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.submitted == 9u);
  BOOST_TEST(c.fetched == 3u);
  BOOST_TEST(c.duplicates == 6u);
  // The id-only ones went out without a ChangeKey attribute.
  bool saw_id_only = false;
  for (const auto& info : rig.get_items()) {
    for (const auto& a : info.ids) saw_id_only |= (a.id == id_n(3) && !a.has_change_key);
  }
  BOOST_TEST(saw_id_only);
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_is_reported_and_the_rest_delivered) {
  std::atomic<int> calls{0};
  collector delivered;
  fake_rig rig([&](ews::item_fetcher_options& o) {
    o.on_outcome = [&](item_outcome&& x) {
      ++calls;
      if (x.source.event.item.id == id_n(7)) throw std::runtime_error("database is down");
      delivered.add(std::move(x));
    };
  });
  for (int i = 0; i < 50; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  BOOST_REQUIRE(delivered.wait_for(49));
  BOOST_TEST(rig.fetcher->drain(5s));
  BOOST_TEST(calls.load() == 50);
  BOOST_TEST(delivered.size() == 49u);
  const auto errors = rig.errors.all();
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST((errors[0].kind() == errc::handler_failed));
  BOOST_TEST(errors[0].message.find("database is down") != std::string::npos);
  BOOST_TEST(rig.fetcher->counters().handler_errors == 1u);
}

BOOST_AUTO_TEST_CASE(server_busy_is_retried_after_the_back_off) {
  fake_rig rig;
  rig.http->respond(500, server_busy_fault(30000));
  for (int i = 0; i < 50; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().retries == 1u; }));
  BOOST_TEST(rig.http->request_count() == 1u);

  // Not a millisecond early.
  rig.clock->advance(29999ms);
  BOOST_TEST(rig.http->request_count() == 1u);
  BOOST_TEST(rig.outcomes.size() == 0u);
  rig.clock->advance(1ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(50));
  BOOST_TEST(rig.outcomes.count(outcome_kind::fetched) == 50u);
  BOOST_TEST(rig.http->request_count() == 2u);
  // The retry asks for the same ids, ChangeKeys included.
  const auto gets = rig.get_items();
  BOOST_REQUIRE(gets.size() == 2u);
  BOOST_TEST(gets[1].ids.size() == 50u);
  BOOST_TEST(gets[1].ids.front().change_key == ck_n(0));
  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.get_item_calls == 2u);
  BOOST_TEST(c.batches == 1u);
  BOOST_TEST(c.retries == 1u);
  BOOST_TEST(rig.errors.all().empty());
}

BOOST_AUTO_TEST_CASE(per_item_server_busy_retries_only_those_items) {
  fake_rig rig;
  std::atomic<int> busy_left{1};
  rig.decide = [&](const asked_id& a) {
    if (a.id == id_n(5) && busy_left.fetch_sub(1) > 0) return answer_kind::server_busy_item;
    return answer_kind::item;
  };
  for (int i = 0; i < 10; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(9));
  BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().retries == 1u; }));
  rig.clock->advance(1999ms);  // the item's BackOffMilliseconds is 2000
  BOOST_TEST(rig.http->request_count() == 1u);
  rig.clock->advance(1ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(10));
  const auto gets = rig.get_items();
  BOOST_REQUIRE(gets.size() == 2u);
  BOOST_REQUIRE(gets[1].ids.size() == 1u);
  BOOST_TEST(gets[1].ids[0].id == id_n(5));
  BOOST_TEST(rig.fetcher->counters().fetched == 10u);
}

BOOST_AUTO_TEST_CASE(transport_failures_end_as_failed_after_bounded_retries) {
  fake_rig rig([](ews::item_fetcher_options& o) {
    o.retry.max_retries = 3;
    o.retry.initial_delay = 100ms;
    o.retry.max_delay = 1s;
  });
  rig.http->set_fallback([](const ews::soap::http_request&) -> ews::result<ews::soap::http_response> {
    return ews::make_error(errc::connection_reset, "connection reset by peer", true);
  });
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  rig.clock->advance(5ms);
  for (std::uint64_t retry = 1; retry <= 3; ++retry) {
    BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().retries == retry; }));
    const auto due = rig.clock->next_deadline();
    BOOST_REQUIRE(due.has_value());
    // Capped exponential: retry n waits between half and all of 100 ms * 2^(n-1).
    const auto wait = *due - rig.clock->now();
    BOOST_TEST((wait >= std::chrono::milliseconds(50 << (retry - 1))));
    BOOST_TEST((wait <= std::chrono::milliseconds(100 << (retry - 1))));
    rig.clock->advance(wait);
  }
  BOOST_REQUIRE(rig.outcomes.wait_for(5));
  for (const auto& o : rig.outcomes.take()) {
    BOOST_TEST((o.kind == outcome_kind::failed));
    BOOST_REQUIRE(o.error.has_value());
    BOOST_TEST((o.error->kind() == errc::connection_reset));
  }
  BOOST_TEST(rig.http->request_count() == 4u);  // 1 + 3 retries
  // Reported once per batch, from the worker (it may trail the outcomes).
  BOOST_TEST(eventually([&] { return rig.errors.count(errc::connection_reset) == 1u; }));
  BOOST_TEST(rig.fetcher->drain(5s));
  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.failed == 5u);
  BOOST_TEST(c.in_progress == 0u);
}

BOOST_AUTO_TEST_CASE(a_throwing_transport_is_a_retried_failure) {
  fake_rig rig;
  std::atomic<int> calls{0};
  rig.http->set_fallback([&](const ews::soap::http_request& r) -> ews::result<ews::soap::http_response> {
    if (calls++ == 0) throw std::runtime_error("engine bug");
    return ews::test::make_response(200, rig.answers.answer(parse_get_item(r.body).ids));
  });
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  rig.clock->advance(5ms);
  BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().retries == 1u; }));
  const auto due = rig.clock->next_deadline();
  BOOST_REQUIRE(due.has_value());
  rig.clock->advance(*due - rig.clock->now());
  BOOST_REQUIRE(rig.outcomes.wait_for(1));
  BOOST_TEST((rig.outcomes.take()[0].kind == outcome_kind::fetched));
  BOOST_TEST(calls.load() == 2);
}

BOOST_AUTO_TEST_CASE(an_unreadable_item_fails_alone) {
  fake_rig rig;
  const std::string poison = id_n(6);
  rig.http->set_fallback([&](const ews::soap::http_request& r) -> ews::result<ews::soap::http_response> {
    const auto info = parse_get_item(r.body);
    for (const auto& a : info.ids) {
      if (a.id == poison) return ews::test::make_response(200, "<s:Envelope xmlns:s=\"x\"><s:Body><broken");
    }
    return ews::test::make_response(200, rig.answers.answer(info.ids));
  });
  for (int i = 0; i < 8; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(8));
  std::size_t fetched = 0;
  for (const auto& o : rig.outcomes.take()) {
    if (o.kind == outcome_kind::fetched) {
      ++fetched;
    } else {
      BOOST_TEST((o.kind == outcome_kind::failed));
      BOOST_TEST(o.source.event.item.id == poison);
      BOOST_REQUIRE(o.error.has_value());
      BOOST_TEST((o.error->kind() == errc::malformed_xml));
    }
  }
  BOOST_TEST(fetched == 7u);
  // 8 -> 4+4 -> 2+2 -> 1+1: the bisection costs log2(8) levels.
  BOOST_TEST(rig.http->request_count() == 7u);
  BOOST_TEST(rig.fetcher->counters().retries == 0u);
}

BOOST_AUTO_TEST_CASE(deleted_folder_and_status_events_are_not_fetched) {
  fake_rig rig;
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::deleted, id_n(1), ck_n(1))));
  auto folder = item_event(event_type::created, "");
  folder.event.is_folder_event = true;
  folder.event.folder = {"folder-id", "folder-ck"};
  BOOST_REQUIRE(rig.fetcher->offer(std::move(folder)));
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::free_busy_changed, id_n(2))));
  BOOST_REQUIRE(rig.fetcher->offer(item_event(event_type::status, "")));
  BOOST_REQUIRE(rig.outcomes.wait_for(3));
  BOOST_TEST(rig.fetcher->drain(5s));
  BOOST_TEST(rig.outcomes.count(outcome_kind::skipped) == 3u);
  BOOST_TEST(rig.outcomes.size() == 3u);
  BOOST_TEST(rig.http->request_count() == 0u);
  const auto c = rig.fetcher->counters();
  BOOST_TEST(c.submitted == 3u);
  BOOST_TEST(c.status_events == 1u);
  BOOST_TEST(c.skipped == 3u);
}

BOOST_AUTO_TEST_CASE(moved_and_copied_keep_the_old_id) {
  fake_rig rig;
  auto moved = item_event(event_type::moved, id_n(10), ck_n(10));
  moved.event.old_item = {id_n(9), ck_n(9)};
  moved.event.old_parent_folder_id = "old-folder";
  auto copied = item_event(event_type::copied, id_n(11), ck_n(11));
  copied.event.old_item = {id_n(10), ck_n(10)};
  BOOST_REQUIRE(rig.fetcher->offer(std::move(moved)));
  BOOST_REQUIRE(rig.fetcher->offer(std::move(copied)));
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(2));
  for (const auto& o : rig.outcomes.take()) {
    BOOST_TEST((o.kind == outcome_kind::fetched));
    BOOST_REQUIRE(o.value.has_value());
    if (o.source.event.type == event_type::moved) {
      BOOST_TEST(o.value->id.id == id_n(10));
      BOOST_TEST(o.source.event.old_item.id == id_n(9));
      BOOST_TEST(o.source.event.old_parent_folder_id == "old-folder");
    } else {
      BOOST_TEST(o.value->id.id == id_n(11));
      BOOST_TEST(o.source.event.old_item.id == id_n(10));
    }
  }
  BOOST_TEST(rig.http->request_count() == 1u);  // one batch for both
}

BOOST_AUTO_TEST_CASE(a_blocked_handler_stops_intake_and_nothing_is_lost) {
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  std::atomic<std::size_t> max_depth{0};
  std::atomic<std::size_t> max_in_progress{0};
  collector delivered;
  ews::item_fetcher* self = nullptr;
  fake_rig rig([&](ews::item_fetcher_options& o) {
    o.queue_limit = 100;
    o.on_outcome = [&](item_outcome&& x) {
      {
        std::unique_lock<std::mutex> lock(gate_mutex);
        gate_cv.wait_for(lock, 20s, [&] { return open; });
      }
      const auto c = self->counters();
      max_depth = std::max<std::size_t>(max_depth, c.queue_depth);
      max_in_progress = std::max<std::size_t>(max_in_progress, c.in_progress);
      delivered.add(std::move(x));
    };
  });
  self = rig.fetcher.get();

  constexpr int total = 300;
  int next = 0;
  // Phase 1: the handler is stuck on the first item; intake stops at the limit.
  while (next < total) {
    auto e = new_mail(id_n(next), ck_n(next));
    if (!rig.fetcher->offer(std::move(e))) {
      // Refused: the event is untouched, the caller still has it.
      BOOST_TEST(e.event.item.id == id_n(next));
      break;
    }
    ++next;
  }
  BOOST_TEST(next == 100);
  BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().queue_depth >= 99u; }));
  auto c = rig.fetcher->counters();
  BOOST_TEST(c.in_progress == 100u);
  BOOST_TEST(c.queue_depth <= 100u);
  BOOST_TEST(c.refused == 1u);
  BOOST_TEST(rig.http->request_count() == 2u);
  BOOST_TEST(rig.ready.count() == 0);

  // Phase 2: the handler resumes; the producer re-offers on every ready signal.
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  int waits = 0;
  while (next < total && waits < 100) {
    auto e = new_mail(id_n(next), ck_n(next));
    if (rig.fetcher->offer(std::move(e))) {
      ++next;
      continue;
    }
    ++waits;
    BOOST_REQUIRE(rig.ready.wait_and_reset());
  }
  BOOST_TEST(next == total);
  rig.clock->advance(5ms);
  BOOST_REQUIRE(delivered.wait_for(total));
  BOOST_TEST(rig.fetcher->drain(5s));

  std::set<std::string> ids;
  for (const auto& o : delivered.take()) ids.insert(o.value ? o.value->id.id : "?");
  BOOST_TEST(ids.size() == static_cast<std::size_t>(total));
  c = rig.fetcher->counters();
  BOOST_TEST(c.fetched == static_cast<std::uint64_t>(total));
  BOOST_TEST(c.peak_in_progress <= 100u);
  BOOST_TEST(max_depth.load() <= 100u);
  BOOST_TEST(max_in_progress.load() <= 100u);
  BOOST_TEST(rig.ready.count() >= 1);
}

BOOST_AUTO_TEST_CASE(body_is_fetched_only_when_asked) {
  fake_rig rig([](ews::item_fetcher_options& o) {
    o.shape.include_body = true;
    o.shape.body = ews::soap::body_type::html;
  });
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(1));
  const auto gets = rig.get_items();
  BOOST_REQUIRE(gets.size() == 1u);
  BOOST_TEST(gets[0].body_type == "HTML");
  BOOST_TEST(std::count(gets[0].field_uris.begin(), gets[0].field_uris.end(), "item:Body") == 1);
  const auto problems = ews::test::validate_request(rig.http->last_request().body, ews::test::schema_set::exchange_online);
  BOOST_TEST(problems.empty(), problems);
  const auto outcomes = rig.outcomes.take();
  BOOST_REQUIRE(outcomes[0].value.has_value());
  // gromox's recorded Text body comes through as sent.
  BOOST_TEST(outcomes[0].value->body.find("Hello Alice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(linger_holds_a_partial_batch_until_it_ends) {
  fake_rig rig([](ews::item_fetcher_options& o) { o.linger = 20ms; });
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  rig.clock->advance(19ms);
  BOOST_TEST(rig.http->request_count() == 0u);
  rig.clock->advance(1ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(3));
  BOOST_TEST(rig.http->request_count() == 1u);
  BOOST_TEST(rig.get_items()[0].ids.size() == 3u);
}

BOOST_AUTO_TEST_CASE(each_mailbox_lingers_from_its_own_first_id_on_one_timer) {
  fake_rig rig([](ews::item_fetcher_options& o) { o.linger = 20ms; });
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(0), ck_n(0), "alice@contoso.com")));
  rig.clock->advance(8ms);
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1), "bob@contoso.com")));
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(2), ck_n(2), "alice@contoso.com")));
  BOOST_TEST(rig.clock->pending() == 1u);  // one timer for both mailboxes
  rig.clock->advance(12ms);                // alice's linger ends (20 ms after her first id)
  BOOST_REQUIRE(rig.outcomes.wait_for(2));
  BOOST_TEST(rig.http->request_count() == 1u);
  BOOST_TEST(rig.get_items()[0].ids.size() == 2u);
  BOOST_TEST(rig.clock->pending() == 1u);  // re-armed for bob
  rig.clock->advance(7ms);
  BOOST_TEST(rig.http->request_count() == 1u);
  rig.clock->advance(1ms);  // bob's ends 20 ms after his first id
  BOOST_REQUIRE(rig.outcomes.wait_for(3));
  BOOST_TEST(rig.http->request_count() == 2u);
  BOOST_TEST(rig.get_items()[1].ids.size() == 1u);
  BOOST_TEST(rig.clock->pending() == 0u);
  // A batch that left sooner (full, or at the end of a burst) leaves the
  // timer to fire into nothing.
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(3), ck_n(3), "alice@contoso.com")));
  rig.fetcher->end_of_burst();
  BOOST_REQUIRE(rig.outcomes.wait_for(4));
  rig.clock->advance(20ms);
  BOOST_TEST(rig.http->request_count() == 3u);
  BOOST_TEST(rig.clock->pending() == 0u);
}

// Adaptive batching: after end_of_burst() a partial batch leaves at once
// while a call slot is free; the manual clock never moves, so no linger fires.
BOOST_AUTO_TEST_CASE(end_of_burst_sends_partial_batches_while_a_slot_is_free) {
  fake_rig rig;
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i), "alice@contoso.com")));
  for (int i = 3; i < 5; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i), "bob@contoso.com")));
  BOOST_TEST(rig.http->request_count() == 0u);
  rig.fetcher->end_of_burst();
  BOOST_REQUIRE(rig.outcomes.wait_for(5));
  std::multiset<std::size_t> sizes;
  for (const auto& g : rig.get_items()) sizes.insert(g.ids.size());
  BOOST_TEST((sizes == std::multiset<std::size_t>{2, 3}));  // one per mailbox, whole
  BOOST_TEST(rig.fetcher->counters().batches == 2u);
}

// While every call slot is busy a sealed batch keeps filling, and leaves as
// one request when the call ends (not one request per burst).
BOOST_AUTO_TEST_CASE(end_of_burst_keeps_filling_while_every_slot_is_busy) {
  std::mutex m;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  fake_rig rig([](ews::item_fetcher_options& o) { o.max_in_flight = 1; });
  rig.http->respond_with([&](const ews::soap::http_request& r) -> ews::result<ews::soap::http_response> {
    std::unique_lock<std::mutex> lock(m);
    started = true;
    cv.notify_all();
    cv.wait_for(lock, 20s, [&] { return release; });
    return ews::test::make_response(200, rig.answers.answer(parse_get_item(r.body).ids, rig.decide));
  });
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(0), ck_n(0))));
  rig.fetcher->end_of_burst();
  {
    std::unique_lock<std::mutex> lock(m);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return started; }));
  }
  for (int i = 1; i < 4; ++i) {
    BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
    rig.fetcher->end_of_burst();
  }
  BOOST_TEST(rig.http->request_count() == 1u);
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  BOOST_REQUIRE(rig.outcomes.wait_for(4));
  const auto gets = rig.get_items();
  BOOST_REQUIRE(gets.size() == 2u);
  BOOST_TEST(gets[0].ids.size() == 1u);
  BOOST_TEST(gets[1].ids.size() == 3u);
  BOOST_TEST(rig.fetcher->counters().batches == 2u);
}

BOOST_AUTO_TEST_CASE(stop_abandons_and_reports_what_is_pending) {
  fake_rig rig;
  for (int i = 0; i < 10; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  const auto started = std::chrono::steady_clock::now();
  rig.fetcher->stop();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 2s));
  BOOST_TEST(!rig.fetcher->offer(new_mail(id_n(99), ck_n(99))));
  BOOST_TEST(rig.fetcher->counters().abandoned == 10u);
  BOOST_TEST(rig.errors.count(errc::cancelled) == 1u);
  BOOST_TEST(rig.clock->pending() == 0u);  // the linger timer is cancelled
  rig.clock->advance(1s);
  BOOST_TEST(rig.http->request_count() == 0u);
  rig.fetcher->stop();  // idempotent
}

BOOST_AUTO_TEST_CASE(oldest_unresolved_follows_the_oldest_event_not_yet_handled) {
  fake_rig rig;
  BOOST_TEST(!rig.fetcher->oldest_unresolved().has_value());
  const auto before = std::chrono::system_clock::now();
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  const auto after_first = std::chrono::system_clock::now();
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(2), ck_n(2))));
  const auto oldest = rig.fetcher->oldest_unresolved();
  BOOST_REQUIRE(oldest.has_value());
  BOOST_TEST((*oldest >= before && *oldest <= after_first));  // the first offer's time, not the second's
  rig.clock->advance(5ms);
  BOOST_REQUIRE(rig.outcomes.wait_for(2));
  BOOST_REQUIRE(rig.fetcher->drain(5s));
  BOOST_TEST(!rig.fetcher->oldest_unresolved().has_value());
}

// An outcome fetched but never handed to the handler must not stay in the
// dedupe window: saved with it, a restart would drop the reconcile's re-offer
// of that item as a duplicate, and the item would be lost.
BOOST_AUTO_TEST_CASE(outcomes_dropped_at_stop_leave_the_dedupe_window_and_hold_the_watermark) {
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  std::atomic<int> handled{0};
  fake_rig rig([&](ews::item_fetcher_options& o) {
    o.on_outcome = [&](item_outcome&&) {
      std::unique_lock<std::mutex> lock(gate_mutex);
      gate_cv.wait_for(lock, 20s, [&] { return open; });
      ++handled;
    };
  });
  const auto before = std::chrono::system_clock::now();
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  rig.clock->advance(5ms);
  // One outcome in the (blocked) handler, two waiting behind it.
  BOOST_REQUIRE(eventually([&] { return rig.fetcher->counters().queue_depth == 2u; }));

  std::thread stopper([&] { rig.fetcher->stop(); });
  // stop() has begun once offers are refused (a probe taken before that is
  // simply abandoned too).
  int probe = 100;
  BOOST_REQUIRE(eventually([&] { return !rig.fetcher->offer(new_mail(id_n(probe++), ck_n(0))); }));
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  stopper.join();

  BOOST_TEST(handled.load() == 1);  // the running call finished; no other started
  BOOST_TEST(rig.fetcher->counters().abandoned >= 2u);
  const auto oldest = rig.fetcher->oldest_unresolved();
  BOOST_REQUIRE(oldest.has_value());  // stays, for good, at the abandoned events
  BOOST_TEST((*oldest >= before && *oldest <= std::chrono::system_clock::now()));

  const auto saved = rig.fetcher->dedupe_snapshot();
  const auto has = [&](int n) {
    return std::count(saved.begin(), saved.end(), ews::dedupe_window::make_key(id_n(n), ck_n(n))) == 1;
  };
  BOOST_TEST(has(0));   // delivered
  BOOST_TEST(!has(1));  // fetched, never handled
  BOOST_TEST(!has(2));

  // The restart: what was handled is a duplicate, the rest is fetched again.
  fake_rig second;
  second.fetcher->restore_dedupe(saved);
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(second.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  second.clock->advance(5ms);
  BOOST_REQUIRE(second.outcomes.wait_for(2));
  BOOST_REQUIRE(second.fetcher->drain(5s));
  BOOST_TEST(second.fetcher->counters().duplicates == 1u);
  BOOST_TEST(second.fetcher->counters().fetched == 2u);
}

BOOST_AUTO_TEST_CASE(restored_dedupe_keys_survive_a_restart) {
  std::vector<std::string> saved;
  {
    fake_rig first;
    BOOST_REQUIRE(first.fetcher->offer(new_mail(id_n(1), ck_n(1))));
    first.clock->advance(5ms);
    BOOST_TEST(first.fetcher->drain(5s));
    saved = first.fetcher->dedupe_snapshot();
  }
  BOOST_TEST(saved.size() == 1u);
  fake_rig second;
  second.fetcher->restore_dedupe(saved);
  BOOST_REQUIRE(second.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  BOOST_TEST(second.fetcher->counters().duplicates == 1u);
  BOOST_TEST(second.http->request_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- replay server: real HTTP on 127.0.0.1 -----------------------------------

namespace {

struct http_rig {
  explicit http_rig(ews::testing::replay_server& server, std::function<void(ews::item_fetcher_options&)> tune = {}) {
    ews::soap::service_options so;
    so.url = server.url();
    so.http = ews::soap::make_http_transport();
    ews::item_fetcher_options o;
    o.service = std::make_shared<ews::soap::service_client>(so);
    o.on_outcome = [this](item_outcome&& x) { outcomes.add(std::move(x)); };
    o.on_error = [this](const ews::error_info& e) { errors.add(e); };
    if (tune) tune(o);
    fetcher = std::make_unique<ews::item_fetcher>(std::move(o));
  }
  collector outcomes;
  error_log errors;
  std::unique_ptr<ews::item_fetcher> fetcher;
};

ews::testing::scenario load(const std::string& name) {
  auto s = ews::testing::load_scenario(scenario_dir(name));
  if (!s) throw ews::error(s.error());
  return std::move(*s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(item_fetcher_replay)

BOOST_AUTO_TEST_CASE(gromox_new_mail_without_change_key_is_fetched) {
  ews::testing::replay_server server(load("fetch-gromox-getitem"));
  http_rig rig(server);
  // gromox's NewMailEvent carries the ItemId without a ChangeKey.
  BOOST_REQUIRE(rig.fetcher->offer(
      new_mail("AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=")));
  BOOST_REQUIRE(rig.outcomes.wait_for(1));
  const auto outcomes = rig.outcomes.take();
  BOOST_REQUIRE((outcomes[0].kind == outcome_kind::fetched));
  const auto& item = *outcomes[0].value;
  BOOST_TEST(item.subject == "EWS streaming test 1");
  BOOST_TEST(item.id.change_key == "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg==");
  BOOST_REQUIRE(item.from.has_value());
  BOOST_TEST(item.from->email == "bob@sender.test");
  BOOST_TEST(item.date_time_received == "2026-11-22T17:54:23Z");
  BOOST_TEST(item.size.value_or(-1) == 2778);
  const auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
  const auto problems =
      ews::test::validate_request(server.received().at(0).body, ews::test::schema_set::exchange_online);
  BOOST_TEST(problems.empty(), problems);
}

BOOST_AUTO_TEST_CASE(server_busy_fault_is_retried_over_http) {
  ews::testing::replay_server server(load("fetch-server-busy"));
  http_rig rig(server, [](ews::item_fetcher_options& o) { o.retry.initial_delay = 10ms; });
  const auto started = std::chrono::steady_clock::now();
  BOOST_REQUIRE(rig.fetcher->offer(
      new_mail("AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAADAAAAAAM=")));
  BOOST_REQUIRE(rig.outcomes.wait_for(1));
  // The fault asked for 300 ms (BackOffMilliseconds); never sooner.
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 300ms));
  BOOST_TEST((rig.outcomes.take()[0].kind == outcome_kind::fetched));
  BOOST_TEST(server.count("GetItem") == 2u);
  BOOST_TEST(rig.fetcher->counters().retries == 1u);
  const auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

BOOST_AUTO_TEST_CASE(thousand_notifications_over_http) {
  ews::testing::replay_server server;
  server.forbid("SyncFolderItems");
  wire_answers answers;
  server.on("GetItem", [&](const ews::testing::received_request& r) {
    return ews::testing::soap_response(answers.answer(parse_get_item(r.body).ids));
  });
  http_rig rig(server, [](ews::item_fetcher_options& o) { o.queue_limit = 1000; });
  int next = 0;
  for (int waits = 0; next < 1000 && waits < 10000; ++waits) {
    if (rig.fetcher->offer(new_mail(id_n(next), ck_n(next), next % 2 ? "alice@contoso.com" : ""))) ++next;
  }
  BOOST_REQUIRE(next == 1000);
  BOOST_REQUIRE(rig.outcomes.wait_for(1000, 60s));
  BOOST_TEST(rig.outcomes.count(outcome_kind::fetched) == 1000u);

  std::size_t ids = 0;
  for (const auto& r : server.received()) {
    BOOST_REQUIRE(r.operation == "GetItem");
    const auto info = parse_get_item(r.body);
    BOOST_TEST(info.ids.size() <= 50u);
    ids += info.ids.size();
    for (const auto& a : info.ids) BOOST_TEST(a.has_change_key);
    BOOST_TEST(info.impersonated == header_value(r.headers, "X-AnchorMailbox"));
    const auto problems = ews::test::validate_request(r.body, ews::test::schema_set::exchange_online);
    BOOST_TEST(problems.empty(), problems);
  }
  BOOST_TEST(ids == 1000u);
  const auto v = server.verify();
  BOOST_TEST(v.ok, v.report());
}

BOOST_AUTO_TEST_CASE(three_of_fifty_gone_over_http) {
  ews::testing::replay_server server;
  wire_answers answers;
  const std::set<std::string> vanished{id_n(0), id_n(25), id_n(49)};
  server.on("GetItem", [&](const ews::testing::received_request& r) {
    return ews::testing::soap_response(answers.answer(parse_get_item(r.body).ids, [&](const asked_id& a) {
      return vanished.count(a.id) ? answer_kind::not_found : answer_kind::item;
    }));
  });
  http_rig rig(server);
  for (int i = 0; i < 50; ++i) BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(i), ck_n(i))));
  BOOST_REQUIRE(rig.outcomes.wait_for(50));
  BOOST_TEST(rig.outcomes.count(outcome_kind::fetched) == 47u);
  BOOST_TEST(rig.outcomes.count(outcome_kind::gone) == 3u);
  BOOST_TEST(server.count("GetItem") == 1u);
}

BOOST_AUTO_TEST_CASE(stop_during_a_stalled_get_item_is_prompt) {
  ews::testing::replay_server server;
  server.on("GetItem", [](const ews::testing::received_request&) {
    ews::testing::response r;
    r.end = ews::testing::ending::hold;  // headers never come
    r.raw = std::string();
    return r;
  });
  http_rig rig(server);
  BOOST_REQUIRE(rig.fetcher->offer(new_mail(id_n(1), ck_n(1))));
  BOOST_REQUIRE(server.wait_for("GetItem", 1, 10s));
  const auto started = std::chrono::steady_clock::now();
  rig.fetcher->stop();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 2s));
  BOOST_TEST(rig.fetcher->counters().abandoned == 1u);
  BOOST_TEST(rig.outcomes.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
