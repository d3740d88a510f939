#pragma once
/// @file
/// Splits the body of a GetStreamingEvents response (complete SOAP envelopes
/// back to back, cut into chunks anywhere) into single envelopes. Sans-I/O:
/// bytes go in through `feed`, complete envelopes come out through `next`.
///
/// Frames by XML structure, not by searching for an end tag: a small
/// tokenizer tracks element depth and understands XML declarations,
/// processing instructions, comments, CDATA, quoted attribute values
/// containing `>` or `/>`, self-closing tags, any namespace prefix or none,
/// and a UTF-8 BOM. State survives between feeds, so a token may be cut at
/// any byte, and every byte is looked at once (linear time).
///
/// What comes out: an envelope is the bytes from the first `<` of its prolog
/// (XML declaration, processing instructions, comments) to the `>` that
/// closes its root element, byte for byte as received. Whitespace, NUL bytes
/// and UTF-8 BOMs before that first `<` are dropped (Exchange writes a NUL
/// after an envelope). Nothing else is checked beyond framing: the reader
/// checks well-formedness.
///
/// Errors (the splitter then stays failed until reset()):
///  - errc::stream_garbage: at depth 0 (between envelopes or in a prolog),
///    anything that cannot start an envelope: text other than whitespace/NUL/
///    BOM, an end tag, CDATA, or a `<!` that is not a comment (DOCTYPE: SOAP
///    forbids DTDs, so an HTML error page is garbage from its first token).
///  - errc::malformed_xml: inside an element, a token that cannot be framed:
///    `<` not followed by a name, `?`, `/` or `!`; `<!` other than a comment
///    or CDATA; an end tag with quotes or `<` in it; and, in any start tag
///    (the root's too), `<` inside the tag or an attribute value.
///  - errc::envelope_too_large: the envelope in progress passed
///    `max_envelope_bytes`; reported at the first byte beyond the limit, and
///    nothing beyond it is buffered.

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

  /// Consumes all of `bytes`. On error (see the file comment) the splitter
  /// stays failed until reset() and every later feed returns the same error;
  /// envelopes completed before the error can still be taken with next().
  status feed(std::string_view bytes);

  /// Moves the next complete envelope into `out`; false when none is ready.
  /// The memory `out` held is kept for a later envelope: a caller that passes
  /// the same string each time allocates nothing per envelope.
  bool next(std::string& out);

  /// True when bytes of an unfinished envelope are buffered (the stream ended
  /// mid-envelope if this is true at its end).
  bool partial() const noexcept;

  /// Bytes currently held: the unfinished envelope plus completed envelopes
  /// not yet taken with next().
  std::size_t buffered() const noexcept;

  /// True after an error, until reset().
  bool failed() const noexcept;

  /// Drops buffered bytes, queued envelopes and any error; ready for a new
  /// stream.
  void reset();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews::soap
