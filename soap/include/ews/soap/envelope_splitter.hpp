#pragma once
/// @file
/// Splits the body of a GetStreamingEvents response (complete SOAP envelopes
/// back to back, cut into chunks anywhere) into single envelopes. Sans-I/O:
/// bytes go in through `feed`, complete envelopes come out through `next`.
///
/// Frames by XML structure, not by searching for an end tag: it tracks element
/// depth and understands XML declarations, processing instructions, comments,
/// CDATA, DOCTYPE-free prologs, quoted attribute values containing `>`, any
/// namespace prefix or none, and a UTF-8 BOM. Whitespace and NUL bytes between
/// envelopes are skipped. It does not check well-formedness beyond framing:
/// the reader does that.

#include <ews/result.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace ews::soap {

struct splitter_options {
  /// Largest envelope accepted (bytes, from its first `<` to its last `>`).
  /// A larger one gives errc::envelope_too_large as soon as the limit is
  /// passed, without buffering the rest.
  std::size_t max_envelope_bytes = 16 * 1024 * 1024;
};

class envelope_splitter {
 public:
  explicit envelope_splitter(splitter_options options = {});
  ~envelope_splitter();
  envelope_splitter(envelope_splitter&&) noexcept;
  envelope_splitter& operator=(envelope_splitter&&) noexcept;

  /// Consumes all of `bytes`. On error (errc::envelope_too_large,
  /// errc::stream_garbage) the splitter stays failed until reset(); envelopes
  /// completed before the error can still be taken with next().
  status feed(std::string_view bytes);

  /// Moves the next complete envelope into `out`; false when none is ready.
  bool next(std::string& out);

  /// True when bytes of an unfinished envelope are buffered (the stream ended
  /// mid-envelope if this is true at its end).
  bool partial() const noexcept;

  /// Bytes currently buffered.
  std::size_t buffered() const noexcept;

  /// Drops buffered bytes and any error; ready for a new stream.
  void reset();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews::soap
