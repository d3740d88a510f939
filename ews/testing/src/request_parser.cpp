#include "request_parser.hpp"

#include <cctype>
#include <charconv>

namespace ews::testing::detail {

namespace {

constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::size_t max_line_bytes = 8 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

const std::string* header_value(const soap::http_headers& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

request_parser::state request_parser::fail(int status, std::string why) {
  phase_ = phase::done;
  error_status_ = status;
  error_ = std::move(why);
  return state::failed;
}

bool request_parser::wants_continue() {
  const bool r = continue_pending_;
  continue_pending_ = false;
  return r;
}

http_request_data request_parser::take() {
  http_request_data r = std::move(req_);
  req_ = {};
  phase_ = phase::head;
  return r;
}

request_parser::state request_parser::parse_head(std::string& buffer) {
  // Tolerate stray CRLFs between requests (RFC 9112 2.2).
  std::size_t lead = 0;
  while (lead + 1 < buffer.size() && buffer[lead] == '\r' && buffer[lead + 1] == '\n') lead += 2;
  if (lead > 0) buffer.erase(0, lead);
  const auto end = buffer.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buffer.size() > max_head_bytes) return fail(431, "request head too large");
    return state::need_more;
  }
  if (end > max_head_bytes) return fail(431, "request head too large");
  std::string_view head(buffer.data(), end);
  const auto line_end = head.find("\r\n");
  const auto line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "bad request line");
  req_.method = std::string(line.substr(0, sp1));
  req_.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  req_.version = std::string(line.substr(sp2 + 1));
  if (req_.version.rfind("HTTP/1.", 0) != 0) return fail(400, "not HTTP/1.x");
  std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto e = rest.find("\r\n");
    const auto h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    const auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "bad header line");
    req_.headers.push_back({std::string(trim(h.substr(0, colon))), std::string(trim(h.substr(colon + 1)))});
  }
  buffer.erase(0, end + 4);

  const auto* te = header_value(req_.headers, "Transfer-Encoding");
  const auto* cl = header_value(req_.headers, "Content-Length");
  if (const auto* expect = header_value(req_.headers, "Expect"); expect && iequals(*expect, "100-continue"))
    continue_pending_ = true;
  if (te != nullptr) {
    if (te->find("chunked") == std::string::npos) return fail(400, "unsupported Transfer-Encoding");
    phase_ = phase::chunk_size;
    return state::need_more;
  }
  if (cl != nullptr) {
    std::size_t n = 0;
    const auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (ec != std::errc() || p != cl->data() + cl->size()) return fail(400, "bad Content-Length");
    if (n > max_body_) return fail(413, "request body too large");
    remaining_ = n;
    phase_ = phase::length_body;
    return state::need_more;
  }
  phase_ = phase::done;
  return state::complete;
}

request_parser::state request_parser::parse_chunked(std::string& buffer) {
  for (;;) {
    switch (phase_) {
      case phase::chunk_size: {
        const auto e = buffer.find("\r\n");
        if (e == std::string::npos) {
          if (buffer.size() > max_line_bytes) return fail(400, "chunk size line too long");
          return state::need_more;
        }
        std::string_view line(buffer.data(), e);
        line = line.substr(0, line.find(';'));
        line = trim(line);
        std::size_t n = 0;
        const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), n, 16);
        if (ec != std::errc() || p != line.data() + line.size() || line.empty())
          return fail(400, "bad chunk size");
        if (n > max_body_ - req_.body.size()) return fail(413, "request body too large");
        buffer.erase(0, e + 2);
        remaining_ = n;
        phase_ = n == 0 ? phase::trailers : phase::chunk_data;
        break;
      }
      case phase::chunk_data: {
        const auto n = std::min(remaining_, buffer.size());
        req_.body.append(buffer, 0, n);
        buffer.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0) return state::need_more;
        phase_ = phase::chunk_data_crlf;
        break;
      }
      case phase::chunk_data_crlf:
        if (buffer.size() < 2) return state::need_more;
        if (buffer.compare(0, 2, "\r\n") != 0) return fail(400, "chunk not followed by CRLF");
        buffer.erase(0, 2);
        phase_ = phase::chunk_size;
        break;
      case phase::trailers: {
        const auto e = buffer.find("\r\n");
        if (e == std::string::npos) {
          if (buffer.size() > max_line_bytes) return fail(400, "trailer too long");
          return state::need_more;
        }
        buffer.erase(0, e + 2);
        if (e == 0) {
          phase_ = phase::done;
          return state::complete;
        }
        break;
      }
      default:
        return fail(400, "parser misuse");
    }
  }
}

request_parser::state request_parser::feed(std::string& buffer) {
  if (phase_ == phase::head) {
    const auto s = parse_head(buffer);
    if (s != state::need_more || phase_ == phase::head) return s;
  }
  if (phase_ == phase::length_body) {
    const auto n = std::min(remaining_, buffer.size());
    req_.body.append(buffer, 0, n);
    buffer.erase(0, n);
    remaining_ -= n;
    if (remaining_ > 0) return state::need_more;
    phase_ = phase::done;
    return state::complete;
  }
  if (phase_ == phase::done) return error_status_ != 0 ? state::failed : state::complete;
  return parse_chunked(buffer);
}

}  // namespace ews::testing::detail
