#pragma once
// Test support for the streaming tests: an in-memory transport whose streams
// the test drives by hand (head, data, end), whose ordinary requests are
// answered by a scripted responder, and which records every request; plus
// builders for the server's envelopes in Exchange's streaming form.

#include <ews/clock.hpp>
#include <ews/soap/transport.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace ews::soap {
inline std::ostream& boost_test_print_type(std::ostream& os, event_type t) { return os << to_string(t); }
}  // namespace ews::soap
namespace ews {
inline std::ostream& boost_test_print_type(std::ostream& os, errc e) { return os << to_string(e); }
}  // namespace ews

namespace ews::test {

/// Waits (bounded) for `pred`, polling; true when it held in time.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

/// Waits (bounded) until a timer of `clock` falls due within `d`. The code
/// under test arms its back-off timers on its own threads, after the effects
/// a test can observe (a cancelled stream, a reported error): advancing the
/// clock before the timer exists would skip it.
inline bool timer_due_within(const ews::manual_clock& clock, ews::clock::duration d) {
  return eventually([&] {
    const auto next = clock.next_deadline();
    return next && *next <= clock.now() + d;
  });
}

/// One streaming response, driven by the test.
class scripted_stream {
 public:
  scripted_stream(soap::http_request request, std::shared_ptr<soap::stream_observer> observer)
      : request_(std::move(request)), observer_(std::move(observer)) {}

  const soap::http_request& request() const { return request_; }

  void head(int status, soap::http_headers headers = {}, std::vector<soap::cookie> cookies = {}) {
    soap::http_response_head h;
    h.status = status;
    h.reason = status == 200 ? "OK" : "Error";
    h.headers = std::move(headers);
    h.cookies = std::move(cookies);
    std::lock_guard<std::mutex> lock(call_mutex_);
    if (!ended_) observer_->on_head(h);
  }
  /// Returns what on_data returned (false: the reader paused).
  bool data(std::string_view bytes) {
    std::lock_guard<std::mutex> lock(call_mutex_);
    if (ended_) return true;
    const bool more = observer_->on_data(bytes);
    if (!more) paused_ = true;
    return more;
  }
  void end(std::optional<error_info> error = std::nullopt) {
    std::lock_guard<std::mutex> lock(call_mutex_);
    if (ended_) return;
    ended_ = true;
    observer_->on_end(error);
  }

  bool cancelled() const { return cancelled_; }
  bool paused() const { return paused_; }
  int resumes() const { return resumes_; }

  // stream interface, through the handle
  void cancel() {
    cancelled_ = true;
    end(make_error(errc::cancelled, "cancelled"));
  }
  void resume() {
    resumes_++;
    paused_ = false;
  }

 private:
  soap::http_request request_;
  std::shared_ptr<soap::stream_observer> observer_;
  std::mutex call_mutex_;  // one observer call at a time, as a transport does
  std::atomic<bool> ended_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> resumes_{0};
};

class scripted_transport final : public soap::transport {
 public:
  using responder = std::function<result<soap::http_response>(const soap::http_request&)>;

  explicit scripted_transport(responder r) : responder_(std::move(r)) {}

  result<soap::http_response> send(const soap::http_request& request, const context& ctx) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sent_.push_back(request);
    }
    if (ctx.done()) return make_error(errc::cancelled, "cancelled");
    return responder_(request);
  }

  std::unique_ptr<soap::stream> open_stream(const soap::http_request& request,
                                            std::shared_ptr<soap::stream_observer> observer) override {
    auto s = std::make_shared<scripted_stream>(request, std::move(observer));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streams_.push_back(s);
    }
    return std::make_unique<handle>(s);
  }

  std::vector<soap::http_request> sent() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }
  std::size_t sent_count(const std::string& needle) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const auto& r : sent_)
      if (r.body.find(needle) != std::string::npos) ++n;
    return n;
  }
  std::size_t stream_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return streams_.size();
  }
  std::shared_ptr<scripted_stream> stream_at(std::size_t i) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return i < streams_.size() ? streams_[i] : nullptr;
  }
  /// Waits for the i-th stream (0-based) to be opened.
  std::shared_ptr<scripted_stream> wait_stream(std::size_t i) const {
    BOOST_REQUIRE_MESSAGE(eventually([&] { return stream_count() > i; }, std::chrono::seconds(20)),
                          "stream " << i << " never opened");
    return stream_at(i);
  }

 private:
  class handle final : public soap::stream {
   public:
    explicit handle(std::shared_ptr<scripted_stream> s) : s_(std::move(s)) {}
    ~handle() override { s_->cancel(); }
    void cancel() override { s_->cancel(); }
    void resume() override { s_->resume(); }

   private:
    std::shared_ptr<scripted_stream> s_;
  };

  responder responder_;
  mutable std::mutex mutex_;
  std::vector<soap::http_request> sent_;
  std::vector<std::shared_ptr<scripted_stream>> streams_;
};

// ---- server envelopes ---------------------------------------------------------

namespace wire {

inline std::string gse_envelope(const std::string& messages) {
  // Exchange's streaming serialisation: unprefixed Envelope, soap11 prefixes
  // declared on Header and Body, m:Notification.
  return "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">"
         "<soap11:Header xmlns:soap11=\"http://schemas.xmlsoap.org/soap/envelope/\">"
         "<ServerVersionInfo xmlns=\"http://schemas.microsoft.com/exchange/services/2006/types\" "
         "MajorVersion=\"15\" MinorVersion=\"20\" Version=\"V2018_01_08\"/></soap11:Header>"
         "<soap11:Body xmlns:soap11=\"http://schemas.xmlsoap.org/soap/envelope/\">"
         "<m:GetStreamingEventsResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
         "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>" +
         messages + "</m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></Envelope>";
}

inline std::string new_mail_event(const std::string& item, const std::string& ck = "CK1",
                                  const std::string& folder = "INBOX-ID",
                                  const std::string& timestamp = "2026-11-22T10:00:00Z") {
  return "<t:NewMailEvent><t:TimeStamp>" + timestamp + "</t:TimeStamp><t:ItemId Id=\"" + item +
         "\" ChangeKey=\"" + ck + "\"/><t:ParentFolderId Id=\"" + folder + "\"/></t:NewMailEvent>";
}
inline std::string created_event(const std::string& item) {
  return "<t:CreatedEvent><t:TimeStamp>2026-11-22T10:00:00Z</t:TimeStamp><t:ItemId Id=\"" + item +
         "\" ChangeKey=\"CK0\"/><t:ParentFolderId Id=\"INBOX-ID\"/></t:CreatedEvent>";
}

inline std::string notification(const std::string& sub_id, const std::string& events) {
  return "<m:Notification><t:SubscriptionId>" + sub_id + "</t:SubscriptionId>" + events + "</m:Notification>";
}

inline std::string ok_message(const std::string& notifications, const char* status = "OK") {
  std::string body = "<m:GetStreamingEventsResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>";
  if (!notifications.empty()) body += "<m:Notifications>" + notifications + "</m:Notifications>";
  body += std::string("<m:ConnectionStatus>") + status + "</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>";
  return body;
}

inline std::string events(const std::string& notifications) { return gse_envelope(ok_message(notifications)); }
inline std::string keep_alive() { return gse_envelope(ok_message("")); }
inline std::string closed() { return gse_envelope(ok_message("", "Closed")); }

/// An error message; `ids` empty: the error applies to every subscription.
inline std::string error_message(const std::string& code, const std::vector<std::string>& ids = {},
                                 const char* status = nullptr) {
  std::string body = "<m:GetStreamingEventsResponseMessage ResponseClass=\"Error\"><m:MessageText>error</m:MessageText>"
                     "<m:ResponseCode>" + code + "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>";
  if (!ids.empty()) {
    body += "<m:ErrorSubscriptionIds>";
    for (const auto& id : ids) body += "<m:SubscriptionId>" + id + "</m:SubscriptionId>";
    body += "</m:ErrorSubscriptionIds>";
  }
  if (status) body += std::string("<m:ConnectionStatus>") + status + "</m:ConnectionStatus>";
  body += "</m:GetStreamingEventsResponseMessage>";
  return gse_envelope(body);
}

inline std::string subscribe_response(const std::string& id) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"
         "<s:Body><m:SubscribeResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
         "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>"
         "<m:SubscribeResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
         "<m:SubscriptionId>" + id + "</m:SubscriptionId></m:SubscribeResponseMessage></m:ResponseMessages>"
         "</m:SubscribeResponse></s:Body></s:Envelope>";
}

inline std::string unsubscribe_response() {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
         "<m:UnsubscribeResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">"
         "<m:ResponseMessages><m:UnsubscribeResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError"
         "</m:ResponseCode></m:UnsubscribeResponseMessage></m:ResponseMessages></m:UnsubscribeResponse>"
         "</s:Body></s:Envelope>";
}

inline std::string server_busy_fault(int back_off_ms) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>"
         "<faultcode xmlns:a=\"http://schemas.microsoft.com/exchange/services/2006/types\">a:ErrorServerBusy</faultcode>"
         "<faultstring xml:lang=\"en-US\">The server cannot service this request right now. Try again later.</faultstring>"
         "<detail><e:ResponseCode xmlns:e=\"http://schemas.microsoft.com/exchange/services/2006/errors\">ErrorServerBusy"
         "</e:ResponseCode><e:Message xmlns:e=\"http://schemas.microsoft.com/exchange/services/2006/errors\">busy</e:Message>"
         "<t:MessageXml xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\">"
         "<t:Value Name=\"BackOffMilliseconds\">" + std::to_string(back_off_ms) + "</t:Value></t:MessageXml>"
         "</detail></s:Fault></s:Body></s:Envelope>";
}

/// A GetItemResponse for every ItemId a GetItem request asks for, in order:
/// the Message (its id, ChangeKey and `subject_of(id)`), or ErrorItemNotFound
/// where `subject_of` gives nullopt (the item is gone).
inline std::string get_item_answer(const std::string& request_body,
                                   const std::function<std::optional<std::string>(const std::string&)>& subject_of) {
  static const std::regex item_id("<t:ItemId Id=\"([^\"]+)\"( ChangeKey=\"([^\"]*)\")?");
  std::string messages;
  for (std::sregex_iterator it(request_body.begin(), request_body.end(), item_id), end; it != end; ++it) {
    const std::string id = (*it)[1];
    if (const auto subject = subject_of(id)) {
      messages += "<m:GetItemResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
                  "<m:Items><t:Message><t:ItemId Id=\"" + id + "\" ChangeKey=\"" + std::string((*it)[3]) +
                  "\"/><t:Subject>" + *subject + "</t:Subject><t:Size>1234</t:Size></t:Message></m:Items>"
                  "</m:GetItemResponseMessage>";
    } else {
      messages +=
          "<m:GetItemResponseMessage ResponseClass=\"Error\"><m:MessageText>The specified object was not found "
          "in the store.</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"
          "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:GetItemResponseMessage>";
    }
  }
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
         "<m:GetItemResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
         "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>" +
         messages + "</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>";
}

/// The text between <tag> and </tag> after `from` ("" if absent).
inline std::string between(const std::string& s, const std::string& open, const std::string& close,
                           std::size_t from = 0) {
  const auto a = s.find(open, from);
  if (a == std::string::npos) return {};
  const auto b = s.find(close, a + open.size());
  if (b == std::string::npos) return {};
  return s.substr(a + open.size(), b - a - open.size());
}

/// Every SubscriptionId element's text in a request body.
inline std::vector<std::string> subscription_ids(const std::string& body) {
  std::vector<std::string> ids;
  std::size_t pos = 0;
  for (;;) {
    const auto a = body.find("SubscriptionId>", pos);
    if (a == std::string::npos) break;
    const auto start = a + 15;
    const auto b = body.find('<', start);
    if (b == std::string::npos) break;
    // skip closing tags (they end in "SubscriptionId>" too, preceded by "</t:")
    if (a >= 1 && body.compare(body.rfind('<', a), 2, "</") != 0) ids.push_back(body.substr(start, b - start));
    pos = b;
  }
  return ids;
}

}  // namespace wire
}  // namespace ews::test
