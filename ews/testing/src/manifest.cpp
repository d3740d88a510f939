// The scenario manifest: a line format a person can read and edit. The parser
// is a pure function of the text (files come through a reader) so it can be
// fuzzed.
#include <ews/testing/scenario.hpp>

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ews::testing {

namespace {

constexpr std::size_t max_line_bytes = 1024 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Splits off the first word.
std::string_view take_word(std::string_view& s) {
  s = trim(s);
  std::size_t e = 0;
  while (e < s.size() && s[e] != ' ' && s[e] != '\t') ++e;
  auto w = s.substr(0, e);
  s = trim(s.substr(e));
  return w;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

result<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) return make_error(errc::invalid_argument, "a backslash ends the text");
    switch (s[i]) {
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case 'x': {
        const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return make_error(errc::invalid_argument, "\\x needs two hex digits");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        return make_error(errc::invalid_argument,
                          std::string("unknown escape \\") + s[i]);
    }
  }
  return out;
}

std::string escape(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f || ((c == ' ') && (i == 0 || i + 1 == s.size()))) {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

result<std::chrono::milliseconds> parse_duration(std::string_view s) {
  std::int64_t n = 0;
  const auto* first = s.data();
  const auto* last = s.data() + s.size();
  const auto [p, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || p == first || n < 0)
    return make_error(errc::invalid_argument, "bad duration '" + std::string(s) + "'");
  const std::string_view unit(p, static_cast<std::size_t>(last - p));
  constexpr std::int64_t limit = 24LL * 3600 * 1000;  // one day is plenty for a test
  std::int64_t ms = -1;
  if (unit == "ms") ms = n;
  else if (unit == "s" && n <= limit / 1000) ms = n * 1000;
  else if (unit == "m" && n <= limit / 60000) ms = n * 60000;
  if (ms < 0 || ms > limit)
    return make_error(errc::invalid_argument,
                      "bad duration '" + std::string(s) + "' (use 250ms, 2s or 1m, at most a day)");
  return std::chrono::milliseconds(ms);
}

result<std::size_t> parse_count(std::string_view s, std::size_t max) {
  std::size_t n = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || n > max)
    return make_error(errc::invalid_argument, "bad number '" + std::string(s) + "'");
  return n;
}

result<soap::http_header> parse_header(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || trim(s.substr(0, colon)).empty())
    return make_error(errc::invalid_argument, "expected 'Name: value'");
  auto value = unescape(trim(s.substr(colon + 1)));
  if (!value) return std::move(value).error();
  return soap::http_header{std::string(trim(s.substr(0, colon))), std::move(*value)};
}

class parser {
 public:
  parser(std::string_view manifest_name, const file_reader& read)
      : name_(manifest_name), read_(read) {}

  result<scenario> run(std::string_view text) {
    std::size_t line_no = 0;
    while (!text.empty()) {
      ++line_no;
      const auto nl = text.find('\n');
      auto line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      if (line.size() > max_line_bytes) return fail(line_no, "line too long");
      line = trim(line);
      if (line.empty() || line.front() == '#') continue;
      if (auto st = directive(line); !st) return fail(line_no, st.error().message);
    }
    return std::move(s_);
  }

 private:
  error_info fail(std::size_t line_no, const std::string& what) const {
    return make_error(errc::invalid_argument,
                      std::string(name_) + ":" + std::to_string(line_no) + ": " + what);
  }

  status need_exchange(std::string_view word) const {
    if (s_.exchanges.empty())
      return make_error(errc::invalid_argument,
                        "'" + std::string(word) + "' before the first 'exchange'");
    return ok;
  }

  result<std::string> file(std::string_view file_name) const {
    if (file_name.empty()) return make_error(errc::invalid_argument, "missing file name");
    auto r = read_ ? read_(file_name)
                   : result<std::string>(make_error(errc::io_error, "no file reader"));
    if (!r) return make_error(errc::invalid_argument, "cannot read '" + std::string(file_name) +
                                                          "': " + r.error().message);
    return r;
  }

  status chunk_directive(std::string_view rest, response& resp) const {
    chunk c;
    bool have_data = false;
    while (!rest.empty()) {
      const auto word = take_word(rest);
      if (word == "raw") {
        c.raw = true;
      } else if (word.rfind("after=", 0) == 0) {
        auto d = parse_duration(word.substr(6));
        if (!d) return std::move(d).error();
        c.after = *d;
      } else if (word.rfind("gate=", 0) == 0) {
        c.gate = std::string(word.substr(5));
        if (c.gate.empty()) return make_error(errc::invalid_argument, "empty gate name");
      } else if (word.rfind("file=", 0) == 0) {
        auto f = file(word.substr(5));
        if (!f) return std::move(f).error();
        c.data = std::move(*f);
        have_data = true;
      } else if (word.rfind("text=", 0) == 0) {
        // The rest of the line, spaces included: re-join what take_word split
        // (both views point into the same line).
        const auto* start = word.data();
        const std::string_view all(start, static_cast<std::size_t>(rest.data() + rest.size() - start));
        auto t = unescape(all.substr(5));
        if (!t) return std::move(t).error();
        c.data = std::move(*t);
        have_data = true;
        rest = {};
      } else if (word == "empty") {
        have_data = true;
      } else {
        return make_error(errc::invalid_argument, "unknown chunk option '" + std::string(word) + "'");
      }
    }
    if (!have_data)
      return make_error(errc::invalid_argument, "chunk needs file=NAME, text=TEXT or empty");
    resp.chunks.push_back(std::move(c));
    return ok;
  }

  status directive(std::string_view line) {
    auto rest = line;
    const auto word = take_word(rest);
    if (word == "scenario") {
      s_.name = std::string(rest);
      return ok;
    }
    if (word == "forbid") {
      if (rest.empty()) return make_error(errc::invalid_argument, "forbid needs an operation");
      s_.forbidden_operations.emplace_back(rest);
      return ok;
    }
    if (word == "exchange") {
      s_.exchanges.emplace_back();
      s_.exchanges.back().label = std::string(rest);
      return ok;
    }
    if (auto st = need_exchange(word); !st) return st;
    auto& ex = s_.exchanges.back();
    auto& expect = ex.expect;
    auto& resp = ex.respond;

    auto text_into = [&](std::vector<std::string>& v) -> status {
      if (rest.empty()) return make_error(errc::invalid_argument, std::string(word) + " needs a text");
      auto t = unescape(rest);
      if (!t) return std::move(t).error();
      v.push_back(std::move(*t));
      return ok;
    };
    auto header_into = [&](std::vector<soap::http_header>& v) -> status {
      auto h = parse_header(rest);
      if (!h) return std::move(h).error();
      v.push_back(std::move(*h));
      return ok;
    };
    auto name_into = [&](std::vector<std::string>& v) -> status {
      if (rest.empty()) return make_error(errc::invalid_argument, std::string(word) + " needs a header name");
      v.emplace_back(rest);
      return ok;
    };

    if (word == "operation") {
      expect.operation = std::string(rest);
      return ok;
    }
    if (word == "body-contains") return text_into(expect.body_contains);
    if (word == "body-excludes") return text_into(expect.body_excludes);
    if (word == "header-equals") return header_into(expect.header_equals);
    if (word == "header-contains") return header_into(expect.header_contains);
    if (word == "header-excludes") return header_into(expect.header_excludes);
    if (word == "header-present") return name_into(expect.header_present);
    if (word == "header-absent") return name_into(expect.header_absent);
    if (word == "request-body") {
      auto f = file(rest);
      if (!f) return std::move(f).error();
      ex.recorded_request = std::move(*f);
      return ok;
    }
    if (word == "status") {
      const auto code = take_word(rest);
      auto n = parse_count(code, 999);
      if (!n || *n < 100) return make_error(errc::invalid_argument, "bad status '" + std::string(code) + "'");
      resp.status = static_cast<int>(*n);
      resp.reason = std::string(rest);
      return ok;
    }
    if (word == "header") return header_into(resp.headers);
    if (word == "body") {
      auto f = file(rest);
      if (!f) return std::move(f).error();
      resp.body = std::move(*f);
      return ok;
    }
    if (word == "body-text") {
      auto t = unescape(rest);
      if (!t) return std::move(t).error();
      resp.body = std::move(*t);
      return ok;
    }
    if (word == "chunk") return chunk_directive(rest, resp);
    if (word == "reset-after") {
      auto n = parse_count(rest, SIZE_MAX / 2);
      if (!n) return std::move(n).error();
      resp.reset_after_bytes = *n;
      return ok;
    }
    if (word == "raw" || word == "raw-text") {
      auto t = word == "raw" ? file(rest) : unescape(rest);
      if (!t) return std::move(t).error();
      resp.raw = std::move(*t);
      return ok;
    }
    if (word == "end") {
      const auto kind = take_word(rest);
      if (kind == "final") resp.end = ending::final;
      else if (kind == "close") resp.end = ending::close;
      else if (kind == "reset") resp.end = ending::reset;
      else if (kind == "hold") {
        resp.end = ending::hold;
        if (!rest.empty()) {
          auto d = parse_duration(rest);
          if (!d) return std::move(d).error();
          resp.hold_for = *d;
        }
        return ok;
      } else {
        return make_error(errc::invalid_argument,
                          "end must be final, close, reset or hold, not '" + std::string(kind) + "'");
      }
      if (!rest.empty()) return make_error(errc::invalid_argument, "unexpected text after end " + std::string(kind));
      return ok;
    }
    return make_error(errc::invalid_argument, "unknown directive '" + std::string(word) + "'");
  }

  std::string_view name_;
  const file_reader& read_;
  scenario s_;
};

std::string file_stem(std::size_t index, const std::string& label) {
  std::string stem = (index < 9 ? "0" : "") + std::to_string(index + 1);
  if (!label.empty()) stem += '-';
  for (char c : label.substr(0, 40)) {
    stem += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ? c : '-';
  }
  return stem;
}

status write_file(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return make_error(errc::io_error, "cannot write " + p.string());
  return ok;
}

const char* ending_name(ending e) {
  switch (e) {
    case ending::final: return "final";
    case ending::close: return "close";
    case ending::reset: return "reset";
    case ending::hold: return "hold";
  }
  return "final";
}

}  // namespace

result<scenario> parse_manifest(std::string_view text, std::string_view manifest_name,
                                const file_reader& read) {
  parser p(manifest_name, read);
  return p.run(text);
}

result<scenario> load_scenario(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path root(dir);
  const auto manifest_path = root / "manifest";
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) return make_error(errc::io_error, "cannot open " + manifest_path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  const file_reader read = [&root](std::string_view name) -> result<std::string> {
    const fs::path rel(name);
    if (rel.is_absolute()) return make_error(errc::invalid_argument, "absolute path");
    for (const auto& part : rel)
      if (part == "..") return make_error(errc::invalid_argument, "path leaves the scenario folder");
    std::ifstream f(root / rel, std::ios::binary);
    if (!f) return make_error(errc::io_error, "no such file in " + root.string());
    std::stringstream body;
    body << f.rdbuf();
    return body.str();
  };
  return parse_manifest(ss.str(), manifest_path.string(), read);
}

status save_scenario(const scenario& s, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, "cannot create " + dir + ": " + ec.message());
  const fs::path root(dir);
  std::ostringstream m;
  m << "# Written by ews-replay; format: tests/fixtures/scenarios/README.md\n";
  if (!s.name.empty()) m << "scenario " << s.name << "\n";
  for (const auto& op : s.forbidden_operations) m << "forbid " << op << "\n";
  for (std::size_t i = 0; i < s.exchanges.size(); ++i) {
    const auto& ex = s.exchanges[i];
    const auto stem = file_stem(i, ex.label);
    const auto& e = ex.expect;
    const auto& r = ex.respond;
    m << "\nexchange " << ex.label << "\n";
    if (!e.operation.empty()) m << "  operation " << e.operation << "\n";
    for (const auto& t : e.body_contains) m << "  body-contains " << escape(t) << "\n";
    for (const auto& t : e.body_excludes) m << "  body-excludes " << escape(t) << "\n";
    for (const auto& h : e.header_equals) m << "  header-equals " << h.name << ": " << escape(h.value) << "\n";
    for (const auto& h : e.header_contains) m << "  header-contains " << h.name << ": " << escape(h.value) << "\n";
    for (const auto& h : e.header_excludes) m << "  header-excludes " << h.name << ": " << escape(h.value) << "\n";
    for (const auto& h : e.header_present) m << "  header-present " << h << "\n";
    for (const auto& h : e.header_absent) m << "  header-absent " << h << "\n";
    if (!ex.recorded_request.empty()) {
      const auto f = stem + ".request.xml";
      if (auto st = write_file(root / f, ex.recorded_request); !st) return st;
      m << "  request-body " << f << "\n";
    }
    m << "  status " << r.status << (r.reason.empty() ? "" : " ") << r.reason << "\n";
    for (const auto& h : r.headers) m << "  header " << h.name << ": " << escape(h.value) << "\n";
    if (r.raw) {
      const auto f = stem + ".raw";
      if (auto st = write_file(root / f, *r.raw); !st) return st;
      m << "  raw " << f << "\n";
    } else if (!r.chunks.empty()) {
      for (std::size_t c = 0; c < r.chunks.size(); ++c) {
        const auto& ch = r.chunks[c];
        m << "  chunk";
        if (ch.after.count() > 0) m << " after=" << ch.after.count() << "ms";
        if (!ch.gate.empty()) m << " gate=" << ch.gate;
        if (ch.raw) m << " raw";
        if (ch.data.empty()) {
          m << " empty\n";
          continue;
        }
        const auto f = stem + ".chunk-" + (c < 9 ? "00" : c < 99 ? "0" : "") + std::to_string(c + 1) + ".xml";
        if (auto st = write_file(root / f, ch.data); !st) return st;
        m << " file=" << f << "\n";
      }
    } else if (!r.body.empty()) {
      const auto f = stem + ".response.xml";
      if (auto st = write_file(root / f, r.body); !st) return st;
      m << "  body " << f << "\n";
    }
    if (r.reset_after_bytes) m << "  reset-after " << *r.reset_after_bytes << "\n";
    if (r.end != ending::final) {
      m << "  end " << ending_name(r.end);
      if (r.end == ending::hold) m << " " << r.hold_for.count() << "ms";
      m << "\n";
    }
  }
  return write_file(root / "manifest", m.str());
}

}  // namespace ews::testing
