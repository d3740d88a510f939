#pragma once
/// @file
/// Test helper: removes HTTP/1.1 chunked framing (`<hex>[;ext]\r\n data \r\n
/// ... 0\r\n [trailers] \r\n`) from a recorded body, such as the gromox
/// `*.response.raw` fixtures. Header-only so any test can include it.

#include <cstddef>
#include <string>
#include <string_view>

namespace ews::test {

struct chunked_body {
  std::string body;         ///< the decoded bytes (what framing was intact)
  bool terminated = false;  ///< the final `0` chunk was seen
  bool well_formed = true;  ///< false if decoding stopped at broken framing
};

/// Decodes `raw`. A stream that simply stops (a server that closed without
/// the final chunk) gives terminated == false and well_formed == true; a
/// size line that is not hex, a chunk shorter than its size or a missing
/// CRLF after a chunk gives well_formed == false and the body up to there.
inline chunked_body decode_chunked(std::string_view raw) {
  chunked_body out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      out.well_formed = false;
      return out;
    }
    std::size_t size = 0;
    std::size_t digits = 0;
    for (std::size_t i = pos; i < eol && raw[i] != ';'; ++i, ++digits) {
      const char c = raw[i];
      int v = 0;
      if (c >= '0' && c <= '9') {
        v = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
      } else {
        out.well_formed = false;
        return out;
      }
      if (digits >= 15) {  // more than a test fixture can hold
        out.well_formed = false;
        return out;
      }
      size = size * 16 + static_cast<std::size_t>(v);
    }
    if (digits == 0) {
      out.well_formed = false;
      return out;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailers, then an empty line; a recording may stop before them.
      out.terminated = true;
      return out;
    }
    if (raw.size() - pos < size + 2 || raw.compare(pos + size, 2, "\r\n") != 0) {
      out.body.append(raw.substr(pos, size));
      out.well_formed = false;
      return out;
    }
    out.body.append(raw.substr(pos, size));
    pos += size + 2;
  }
  return out;
}

}  // namespace ews::test
