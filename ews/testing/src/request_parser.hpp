#pragma once
// Incremental HTTP/1.1 request parser (sans-I/O): bytes in, one request out.
// Bodies by Content-Length or chunked; limits on head and body size.

#include <ews/soap/transport.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace ews::testing::detail {

struct http_request_data {
  std::string method;
  std::string target;
  std::string version;
  soap::http_headers headers;
  std::string body;
};

class request_parser {
 public:
  enum class state { need_more, complete, failed };

  explicit request_parser(std::size_t max_body_bytes) : max_body_(max_body_bytes) {}

  /// Consumes bytes from the front of `buffer` (what is left belongs to the
  /// next request). After `complete`, take the request with take() and call
  /// again for the next one.
  state feed(std::string& buffer);
  /// True once the head is parsed and it asked for 100-continue (reported once).
  bool wants_continue();
  http_request_data take();
  /// For `failed`: the status to answer (400, 413, 431) and why.
  int error_status() const noexcept { return error_status_; }
  const std::string& error_message() const noexcept { return error_; }

 private:
  state fail(int status, std::string why);
  state parse_head(std::string& buffer);
  state parse_chunked(std::string& buffer);

  enum class phase { head, length_body, chunk_size, chunk_data, chunk_data_crlf, trailers, done };
  std::size_t max_body_;
  phase phase_ = phase::head;
  std::size_t remaining_ = 0;
  bool continue_pending_ = false;
  int error_status_ = 0;
  std::string error_;
  http_request_data req_;
};

/// Case-insensitive header lookup (nullptr when absent).
const std::string* header_value(const soap::http_headers& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

}  // namespace ews::testing::detail
