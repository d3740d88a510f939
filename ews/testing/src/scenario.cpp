// Ready-made responses and the operation sniffer.
#include <ews/testing/scenario.hpp>

#include <cctype>

namespace ews::testing {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
         c == ':';
}

std::string_view local_name(std::string_view qname) {
  const auto colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// Finds the next start tag at or after `pos` (skipping declarations,
// comments, processing instructions and end tags); returns its qualified
// name and moves `pos` behind it. Empty name: none left.
std::string_view next_start_tag(std::string_view text, std::size_t& pos) {
  while (pos < text.size()) {
    const auto lt = text.find('<', pos);
    if (lt == std::string_view::npos || lt + 1 >= text.size()) break;
    const char c = text[lt + 1];
    if (text.compare(lt, 4, "<!--") == 0) {
      const auto end = text.find("-->", lt + 4);
      pos = end == std::string_view::npos ? text.size() : end + 3;
      continue;
    }
    if (c == '?' || c == '!' || c == '/') {
      const auto end = text.find('>', lt + 1);
      pos = end == std::string_view::npos ? text.size() : end + 1;
      continue;
    }
    std::size_t e = lt + 1;
    while (e < text.size() && is_name_char(text[e])) ++e;
    const auto name = text.substr(lt + 1, e - lt - 1);
    // Skip the rest of the tag, honouring quoted attribute values.
    char quote = 0;
    while (e < text.size()) {
      const char d = text[e++];
      if (quote != 0) {
        if (d == quote) quote = 0;
      } else if (d == '"' || d == '\'') {
        quote = d;
      } else if (d == '>') {
        break;
      }
    }
    pos = e;
    if (!name.empty()) return name;
  }
  pos = text.size();
  return {};
}

}  // namespace

std::string operation_of(std::string_view soap_body) {
  std::size_t pos = 0;
  bool in_body = false;
  // Bounded: every iteration consumes at least one byte.
  for (;;) {
    const auto name = next_start_tag(soap_body, pos);
    if (name.empty()) return {};
    if (in_body) return std::string(local_name(name));
    if (local_name(name) == "Body") {
      // <Body/> has no child.
      if (pos >= 2 && soap_body[pos - 2] == '/') return {};
      in_body = true;
    }
  }
}

response soap_response(std::string body, int status) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response http_error(int status, std::chrono::seconds retry_after) {
  response r;
  r.status = status;
  r.headers.push_back({"Retry-After", std::to_string(retry_after.count())});
  r.headers.push_back({"Content-Type", "text/plain"});
  return r;
}

response redirect(std::string location, int status) {
  response r;
  r.status = status;
  r.headers.push_back({"Location", std::move(location)});
  r.headers.push_back({"Content-Type", "text/plain"});
  return r;
}

response streaming_response(std::vector<chunk> chunks, ending end) {
  response r;
  r.chunks = std::move(chunks);
  r.end = end;
  return r;
}

}  // namespace ews::testing
