#include <ews/soap/service_client.hpp>

#include <ews/soap/responses.hpp>

namespace ews::soap {
namespace {

// EWS wants SOAP 1.1 over POST with this type; it dispatches on the Body's
// element, so no SOAPAction header is needed (Exchange and gromox ignore it).
constexpr const char* content_type = "text/xml; charset=utf-8";

http_request make_request(const std::string& url, const std::string& envelope, const http_headers& extra,
                          std::chrono::milliseconds inactivity) {
  http_request req;
  req.method = "POST";
  req.url = url;
  req.headers.push_back({"Content-Type", content_type});
  req.headers.push_back({"Accept", "text/xml"});
  for (const auto& h : extra) req.headers.push_back(h);
  req.body = envelope;
  req.inactivity_timeout = inactivity;
  return req;
}

// A non-200 answer as an error: the SOAP fault in the body if there is one
// (Exchange sends faults with 500), else the status itself.
error_info status_error(const http_response& response) {
  error_info from_status = http_status_error(response.head);
  if (response.head.status >= 300 && response.head.status < 400) return from_status;
  if (auto fault = read_fault(response.body)) {
    fault->http_status = response.head.status;
    if (fault->request_id.empty()) fault->request_id = from_status.request_id;
    if (!fault->back_off) fault->back_off = from_status.back_off;
    return *fault;
  }
  return from_status;
}

}  // namespace

service_client::service_client(service_options options) : options_(std::move(options)) {
  if (!options_.http) throw error(make_error(errc::invalid_argument, "service_client needs a transport"));
}

result<http_response> service_client::call(const std::string& envelope, const http_headers& extra_headers,
                                           const context& ctx, std::string* body_buffer) const {
  const context call_ctx = ctx.with_timeout(options_.request_timeout);
  // One refresh and one retry at most: a server that keeps answering 401
  // must not make us loop (or lock the account with failed attempts).
  for (int attempt = 0;; ++attempt) {
    http_request req = make_request(options_.url, envelope, extra_headers, options_.request_timeout);
    req.body_buffer = body_buffer;
    if (options_.credentials) {
      auto applied = options_.credentials->apply(req, call_ctx);
      if (!applied) return std::move(applied).error();
    }
    auto res = options_.http->send(req, call_ctx);
    if (!res) return res;
    const int status = res->head.status;
    if (status == 200) return res;
    if (status == 401) {
      if (attempt == 0 && options_.credentials &&
          options_.credentials->refresh_after_unauthorized(res->head, call_ctx)) {
        options_.log(log_level::info, "HTTP 401: credentials refreshed, retrying once");
        continue;
      }
      auto e = http_status_error(res->head);
      e.message += attempt == 0 ? "" : " (also after refreshing the credentials)";
      return e;
    }
    auto e = status_error(*res);
    options_.log(log_level::debug, "EWS call failed: " + e.code_name() + ": " + e.message);
    return e;
  }
}

result<std::unique_ptr<stream>> service_client::open_stream(const std::string& envelope,
                                                            const http_headers& extra_headers,
                                                            std::chrono::milliseconds inactivity_timeout,
                                                            std::shared_ptr<stream_observer> observer,
                                                            const context& ctx) const {
  http_request req = make_request(options_.url, envelope, extra_headers, inactivity_timeout);
  if (options_.credentials) {
    auto applied = options_.credentials->apply(req, ctx);
    if (!applied) return std::move(applied).error();
  }
  return options_.http->open_stream(req, std::move(observer));
}

}  // namespace ews::soap
