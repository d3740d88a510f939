#include <ews/soap/envelope_splitter.hpp>

#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>

namespace ews::soap {
namespace {

// One state per place a token can be cut. Each state's scan loop runs until
// its token ends or the input does, so a chunk boundary anywhere only means
// "resume here on the next feed".
enum class state : unsigned char {
  between,       // depth 0, no envelope started: skip whitespace, NUL, BOM
  bom1,          // after EF of a BOM
  bom2,          // after EF BB
  prolog,        // depth 0 inside an envelope: after its declaration/PI/comment
  text,          // character data inside an element
  lt,            // after '<'
  pi,            // inside <? ... ?>
  pi_q,          // after a '?' inside a PI
  bang,          // after "<!"
  comment_open,  // after "<!-"
  comment,       // inside <!-- ... -->
  comment_d1,    // after one '-'
  comment_d2,    // after "--"
  cdata_open,    // matching "CDATA[" after "<!["
  cdata,         // inside <![CDATA[ ... ]]>
  cdata_b1,      // after one ']'
  cdata_b2,      // after "]]"
  start_tag,     // inside <name ... >, outside quotes
  attr_dq,       // inside "..." in a start tag
  attr_sq,       // inside '...' in a start tag
  end_tag_name,  // after "</"
  end_tag,       // inside </name ... >
};

constexpr std::string_view cdata_keyword = "CDATA[";

// The largest envelope memory kept for reuse (keep-alives and notifications
// are a few KB; a rare huge one is not held for good).
constexpr std::size_t max_spare_bytes = 256 * 1024;

constexpr bool is_space(unsigned char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// XML NameStartChar, approximated for ASCII; every non-ASCII byte may start
// a UTF-8 encoded name (the reader checks the details).
constexpr bool is_name_start(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

// Bytes a start tag's scan loop must stop at; everything else is skipped
// without a branch per kind.
struct tag_table {
  bool special[256] = {};
  constexpr tag_table() {
    special[static_cast<unsigned char>('>')] = true;
    special[static_cast<unsigned char>('/')] = true;
    special[static_cast<unsigned char>('"')] = true;
    special[static_cast<unsigned char>('\'')] = true;
    special[static_cast<unsigned char>('<')] = true;
  }
};
constexpr tag_table tag_specials{};

}  // namespace

struct envelope_splitter::impl {
  explicit impl(splitter_options o) : options(o) {}

  splitter_options options;
  state st = state::between;
  bool in_envelope = false;  // bytes from the envelope's first '<' are being kept
  bool slash = false;        // the previous byte of a start tag was an unquoted '/'
  std::size_t depth = 0;     // open elements
  std::size_t keyword_pos = 0;  // progress through "CDATA["
  std::size_t stream_offset = 0;  // bytes fed before the current feed (for messages)
  std::string current;            // the unfinished envelope's earlier bytes
  // Memory of an envelope the caller gave back through next(), for the next
  // one: an envelope cost one to three allocations as it grew (several KB).
  std::string spare;
  std::deque<std::string> ready;  // completed envelopes, oldest first
  std::size_t ready_bytes = 0;
  std::optional<error_info> error;

  status feed(std::string_view bytes);

  void emit(const char* seg, const char* last) {
    const auto n = static_cast<std::size_t>(last - seg);
    if (current.empty()) {
      std::string whole = take_spare();
      whole.assign(seg, n);
      ready.push_back(std::move(whole));
    } else {
      current.append(seg, n);
      ready.push_back(std::move(current));
      current = take_spare();
    }
    ready_bytes += ready.back().size();
    in_envelope = false;
    st = state::between;
  }

  std::string take_spare() {
    std::string s = std::exchange(spare, std::string());
    s.clear();
    return s;
  }

  void keep_spare(std::string&& s) {
    if (s.capacity() > spare.capacity() && s.capacity() <= max_spare_bytes) spare = std::move(s);
  }

  error_info fail(errc kind, const char* what, std::size_t offset, unsigned char byte) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "envelope stream: %s (byte 0x%02x at offset %zu)", what,
                  static_cast<unsigned>(byte), offset);
    error = make_error(kind, msg);
    return *error;
  }
};

status envelope_splitter::impl::feed(std::string_view bytes) {
  if (error) return *error;

  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  const char* p = begin;
  // seg: where the unfinished envelope's bytes start in this chunk.
  // lim: one past the last byte the envelope may take without passing the
  // limit; scans stop there, so nothing beyond the limit is ever buffered.
  const char* seg = begin;
  const char* lim = end;
  const auto set_limit = [&] {
    const std::size_t allowed =
        options.max_envelope_bytes > current.size() ? options.max_envelope_bytes - current.size() : 0;
    lim = static_cast<std::size_t>(end - seg) > allowed ? seg + allowed : end;
  };
  if (in_envelope) set_limit();

  const auto offset = [&](const char* at) { return stream_offset + static_cast<std::size_t>(at - begin); };
  // A token that cannot be framed: garbage outside the root element,
  // malformed XML inside it.
  const auto framing_error = [&](const char* at, const char* what) -> status {
    return fail(depth == 0 ? errc::stream_garbage : errc::malformed_xml, what, offset(at),
                static_cast<unsigned char>(*at));
  };

  // Inside a tag, even the root's, the bytes are XML gone wrong, not garbage.
  const auto malformed = [&](const char* at, const char* what) -> status {
    return fail(errc::malformed_xml, what, offset(at), static_cast<unsigned char>(*at));
  };

  while (p < end) {
    if (in_envelope && p >= lim) {
      char what[96];
      std::snprintf(what, sizeof what, "envelope larger than %zu bytes", options.max_envelope_bytes);
      return fail(errc::envelope_too_large, what, offset(p), static_cast<unsigned char>(*p));
    }
    const char* const stop = in_envelope ? lim : end;
    switch (st) {
      case state::between:
        for (; p < stop; ++p) {
          const auto c = static_cast<unsigned char>(*p);
          if (is_space(c) || c == 0) continue;
          if (c == '<') {
            in_envelope = true;
            seg = p++;
            set_limit();
            st = state::lt;
          } else if (c == 0xEF) {
            ++p;
            st = state::bom1;
          } else {
            return framing_error(p, "text outside an envelope");
          }
          break;
        }
        break;

      case state::bom1:
      case state::bom2: {
        const auto want = st == state::bom1 ? 0xBB : 0xBF;
        if (static_cast<unsigned char>(*p) != want) return framing_error(p, "broken byte order mark");
        ++p;
        st = st == state::bom1 ? state::bom2 : state::between;
        break;
      }

      case state::prolog:
        while (p < stop && is_space(static_cast<unsigned char>(*p))) ++p;
        if (p < stop) {
          if (*p != '<') return framing_error(p, "text in an envelope's prolog");
          ++p;
          st = state::lt;
        }
        break;

      case state::text: {
        const auto* q = static_cast<const char*>(std::memchr(p, '<', static_cast<std::size_t>(stop - p)));
        if (q == nullptr) {
          p = stop;
        } else {
          p = q + 1;
          st = state::lt;
        }
        break;
      }

      case state::lt: {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '?') {
          st = state::pi;
        } else if (c == '!') {
          st = state::bang;
        } else if (c == '/') {
          if (depth == 0) return framing_error(p, "end tag outside an element");
          st = state::end_tag_name;
        } else if (is_name_start(c)) {
          slash = false;
          st = state::start_tag;
        } else {
          return framing_error(p, "'<' not followed by a name");
        }
        ++p;
        break;
      }

      case state::pi: {
        const auto* q = static_cast<const char*>(std::memchr(p, '?', static_cast<std::size_t>(stop - p)));
        if (q == nullptr) {
          p = stop;
        } else {
          p = q + 1;
          st = state::pi_q;
        }
        break;
      }

      case state::pi_q: {
        const char c = *p++;
        if (c == '>') {
          st = depth == 0 ? state::prolog : state::text;
        } else if (c != '?') {
          st = state::pi;
        }
        break;
      }

      case state::bang: {
        const char c = *p;
        if (c == '-') {
          st = state::comment_open;
        } else if (c == '[' && depth > 0) {
          keyword_pos = 0;
          st = state::cdata_open;
        } else {
          return framing_error(p, depth == 0 ? "DOCTYPE or CDATA outside an element" : "unknown '<!' markup");
        }
        ++p;
        break;
      }

      case state::comment_open:
        if (*p != '-') return framing_error(p, "broken comment start");
        ++p;
        st = state::comment;
        break;

      case state::comment: {
        const auto* q = static_cast<const char*>(std::memchr(p, '-', static_cast<std::size_t>(stop - p)));
        if (q == nullptr) {
          p = stop;
        } else {
          p = q + 1;
          st = state::comment_d1;
        }
        break;
      }

      case state::comment_d1:
        st = *p++ == '-' ? state::comment_d2 : state::comment;
        break;

      case state::comment_d2: {
        const char c = *p++;
        if (c == '>') {
          st = depth == 0 ? state::prolog : state::text;
        } else if (c != '-') {
          st = state::comment;
        }
        break;
      }

      case state::cdata_open:
        if (*p != cdata_keyword[keyword_pos]) return framing_error(p, "unknown '<![' markup");
        ++p;
        if (++keyword_pos == cdata_keyword.size()) st = state::cdata;
        break;

      case state::cdata: {
        const auto* q = static_cast<const char*>(std::memchr(p, ']', static_cast<std::size_t>(stop - p)));
        if (q == nullptr) {
          p = stop;
        } else {
          p = q + 1;
          st = state::cdata_b1;
        }
        break;
      }

      case state::cdata_b1:
        st = *p++ == ']' ? state::cdata_b2 : state::cdata;
        break;

      case state::cdata_b2: {
        const char c = *p++;
        if (c == '>') {
          st = state::text;
        } else if (c != ']') {
          st = state::cdata;
        }
        break;
      }

      case state::start_tag:
        while (p < stop) {
          const char c = *p;
          if (!tag_specials.special[static_cast<unsigned char>(c)]) {
            slash = false;
            ++p;
            continue;
          }
          if (c == '<') return malformed(p, "'<' inside a tag");
          ++p;
          if (c == '/') {
            slash = true;
            continue;
          }
          if (c == '"' || c == '\'') {
            slash = false;
            st = c == '"' ? state::attr_dq : state::attr_sq;
            break;
          }
          // '>': a self-closed element at depth 0 is a whole envelope.
          if (!slash) {
            ++depth;
            st = state::text;
          } else if (depth == 0) {
            emit(seg, p);
          } else {
            st = state::text;
          }
          break;
        }
        break;

      case state::attr_dq:
      case state::attr_sq: {
        // Attribute values (ItemIds, ChangeKeys) are most of a notification's
        // bytes: two memchr passes instead of a loop testing every byte twice.
        const char quote = st == state::attr_dq ? '"' : '\'';
        const auto* q = static_cast<const char*>(std::memchr(p, quote, static_cast<std::size_t>(stop - p)));
        const char* const value_end = q == nullptr ? stop : q;
        if (const auto* lt = static_cast<const char*>(std::memchr(p, '<', static_cast<std::size_t>(value_end - p))))
          return malformed(lt, "'<' inside an attribute value");
        if (q == nullptr) {
          p = stop;
        } else {
          p = q + 1;
          st = state::start_tag;
        }
        break;
      }

      case state::end_tag_name:
        if (!is_name_start(static_cast<unsigned char>(*p))) return framing_error(p, "'</' not followed by a name");
        ++p;
        st = state::end_tag;
        break;

      case state::end_tag:
        while (p < stop) {
          const char c = *p;
          if (c == '>') {
            ++p;
            if (--depth == 0) {
              emit(seg, p);
            } else {
              st = state::text;
            }
            break;
          }
          if (c == '<' || c == '"' || c == '\'') return framing_error(p, "unexpected byte in an end tag");
          ++p;
        }
        break;
    }
  }

  if (in_envelope) {
    if (current.empty() && spare.capacity() > current.capacity()) current = take_spare();
    current.append(seg, static_cast<std::size_t>(end - seg));
  }
  stream_offset += bytes.size();
  return ok;
}

envelope_splitter::envelope_splitter(splitter_options options) : impl_(std::make_unique<impl>(options)) {}
envelope_splitter::~envelope_splitter() = default;
envelope_splitter::envelope_splitter(envelope_splitter&&) noexcept = default;
envelope_splitter& envelope_splitter::operator=(envelope_splitter&&) noexcept = default;

status envelope_splitter::feed(std::string_view bytes) { return impl_->feed(bytes); }

bool envelope_splitter::next(std::string& out) {
  if (impl_->ready.empty()) return false;
  out.swap(impl_->ready.front());
  impl_->keep_spare(std::move(impl_->ready.front()));
  impl_->ready.pop_front();
  impl_->ready_bytes -= out.size();
  return true;
}

bool envelope_splitter::partial() const noexcept { return impl_->in_envelope; }

std::size_t envelope_splitter::buffered() const noexcept { return impl_->current.size() + impl_->ready_bytes; }

bool envelope_splitter::failed() const noexcept { return impl_->error.has_value(); }

void envelope_splitter::reset() {
  // Also revives a moved-from splitter.
  impl_ = std::make_unique<impl>(impl_ ? impl_->options : splitter_options{});
}

}  // namespace ews::soap
