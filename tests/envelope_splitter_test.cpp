// Tests for ews::soap::envelope_splitter: every recorded response through it
// at several chunk sizes, each tricky XML construct by hand, the error and
// limit contract, and replay of inputs the fuzzer once broke it with.
#include <ews/soap/envelope_splitter.hpp>

#include "chunked_body.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;
using ews::errc;
using ews::soap::envelope_splitter;
using ews::soap::splitter_options;
using namespace std::string_literals;

namespace {

struct split_result {
  std::vector<std::string> envelopes;
  std::optional<ews::errc> error;
  bool partial = false;
  std::size_t buffered_at_error = 0;
};

// Feeds `data` in pieces of `chunk` bytes, stopping at the first error.
split_result split(std::string_view data, std::size_t chunk, splitter_options options = {}) {
  envelope_splitter s(options);
  split_result r;
  std::string env;
  for (std::size_t pos = 0; pos < data.size(); pos += chunk) {
    const auto st = s.feed(data.substr(pos, chunk));
    while (s.next(env)) r.envelopes.push_back(env);
    if (!st) {
      r.error = st.error().kind();
      r.buffered_at_error = s.buffered();
      break;
    }
  }
  r.partial = s.partial();
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const fs::path wire_dir = fs::path(EWS_TEST_DIR) / "fixtures" / "wire";

// The body of a recorded response: `*.raw` bodies are chunk-framed unless
// their `.headers` file says otherwise (SOURCE.md: de-chunked means "still
// framed" there; files without headers are streaming bodies).
std::string response_body(const fs::path& p, bool* terminated = nullptr) {
  std::string raw = read_file(p);
  if (p.extension() != ".raw") return raw;
  const fs::path headers = fs::path(p).replace_extension(".headers");
  if (fs::exists(headers) && read_file(headers).find("chunked") == std::string::npos) return raw;
  const auto decoded = ews::test::decode_chunked(raw);
  BOOST_REQUIRE_MESSAGE(decoded.well_formed, "broken chunk framing in " << p);
  if (terminated != nullptr) *terminated = decoded.terminated;
  return decoded.body;
}

bool is_separator(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0; }

// The envelopes must be the input's own bytes, in order, with only
// whitespace, NUL and BOMs between and after them.
void check_covers(std::string_view body, const std::vector<std::string>& envelopes, const std::string& name) {
  std::size_t pos = 0;
  const auto skip_separators = [&] {
    for (;;) {
      if (pos < body.size() && is_separator(static_cast<unsigned char>(body[pos]))) {
        ++pos;
      } else if (body.substr(pos, 3) == "\xEF\xBB\xBF") {
        pos += 3;
      } else {
        return;
      }
    }
  };
  for (const auto& e : envelopes) {
    skip_separators();
    BOOST_TEST_REQUIRE(body.substr(pos, e.size()) == e, name << ": envelope is not the next input bytes");
    pos += e.size();
  }
  skip_separators();
  BOOST_TEST(pos == body.size(), name << ": " << body.size() - pos << " bytes not in any envelope");
}

bool ends_with_envelope_end_tag(const std::string& e) {
  const auto lt = e.rfind("</");
  return lt != std::string::npos && e.back() == '>' && e.find("Envelope", lt) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(envelope_splitter_suite)

// ---- recorded responses -------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_recorded_response_splits_the_same_at_every_chunk_size) {
  // Envelope counts checked by hand against the files (one per HTTP chunk in
  // the gromox streams; the 13/15/16b streams stop without the final chunk).
  const std::map<std::string, std::size_t> streams = {
      {"02-getstreamingevents.response.raw", 5},
      {"09-getstreamingevents-after-unsubscribe.response.raw", 3},
      {"13-gse-timeout-45.response.raw", 1},
      {"13-gse-timeout-missing.response.raw", 1},
      {"14a-gse-first-connection.response.raw", 2},
      {"14b-gse-second-connection.response.raw", 5},
      {"15-gse-after-6min-idle.response.raw", 1},
      {"16b-gse-reconnect-with-queued-events.response.raw", 2},
  };
  std::size_t files = 0;
  std::size_t envelopes = 0;
  std::size_t raw_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(wire_dir)) {
    if (!entry.is_regular_file()) continue;
    const auto& p = entry.path();
    const auto ext = p.extension();
    if (ext != ".xml" && ext != ".raw") continue;
    const std::string name = p.filename().string();
    const std::string body = response_body(p);
    ++files;

    const auto whole = split(body, 4096);
    for (const std::size_t chunk : {1, 7}) {
      const auto r = split(body, chunk);
      BOOST_TEST(r.envelopes == whole.envelopes, name << " differs at chunk size " << chunk);
      BOOST_TEST((r.error == whole.error), name << " error differs at chunk size " << chunk);
      BOOST_TEST(r.partial == whole.partial, name);
    }
    const auto one_feed = split(body, body.size() + 1);
    BOOST_TEST(one_feed.envelopes == whole.envelopes, name << " differs in one feed");

    if (name == "create_existing_folder.02-response-401.xml") {
      // An IIS HTML page: its DOCTYPE is not something an envelope starts with.
      BOOST_TEST(whole.envelopes.empty());
      BOOST_TEST((whole.error == errc::stream_garbage));
      continue;
    }
    BOOST_TEST(!whole.error.has_value(), name << " gave an error");
    BOOST_TEST(!whole.partial, name << " ends mid-envelope");
    if (ext == ".raw") {
      ++raw_files;
      const auto it = streams.find(name);
      BOOST_TEST_REQUIRE((it != streams.end()), "new stream fixture without an expected count: " << name);
      BOOST_TEST(whole.envelopes.size() == it->second, name);
    } else {
      BOOST_TEST(whole.envelopes.size() == 1u, name);
    }
    for (const auto& e : whole.envelopes) {
      BOOST_TEST(e.front() == '<');
      BOOST_TEST(ends_with_envelope_end_tag(e), name << " envelope ends with " << e.substr(e.size() > 20 ? e.size() - 20 : 0));
    }
    check_covers(body, whole.envelopes, name);
    envelopes += whole.envelopes.size();
  }
  BOOST_TEST_MESSAGE(files << " files, " << envelopes << " envelopes");
  BOOST_TEST(raw_files == streams.size());
  BOOST_TEST(files >= 200u);  // 202 when written
}

BOOST_AUTO_TEST_CASE(gromox_stream_keeps_the_declaration_with_the_first_envelope) {
  bool terminated = false;
  const auto body = response_body(wire_dir / "gromox-captures" / "02-getstreamingevents.response.raw", &terminated);
  BOOST_TEST(terminated);
  const auto r = split(body, 4096);
  BOOST_TEST_REQUIRE(r.envelopes.size() == 5u);
  BOOST_TEST(r.envelopes[0].rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP:Envelope", 0) == 0u);
  for (std::size_t i = 1; i < r.envelopes.size(); ++i) {
    BOOST_TEST(r.envelopes[i].rfind("<SOAP:Envelope ", 0) == 0u);
  }
  BOOST_TEST(r.envelopes[1].find("CreatedEvent") != std::string::npos);
  BOOST_TEST(r.envelopes[4].find("<m:ConnectionStatus>Closed</m:ConnectionStatus>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stream_cut_without_final_chunk_still_yields_its_envelopes) {
  bool terminated = true;
  const auto body =
      response_body(wire_dir / "gromox-captures" / "16b-gse-reconnect-with-queued-events.response.raw", &terminated);
  BOOST_TEST(!terminated);
  const auto r = split(body, 7);
  BOOST_TEST(r.envelopes.size() == 2u);
  BOOST_TEST(!r.partial);
}

BOOST_AUTO_TEST_CASE(trailing_nul_after_exchange_envelope_is_dropped) {
  const auto body = read_file(wire_dir / "otris-ews-cpp" / "undeliverable_test_mail_get_item_response.xml");
  BOOST_TEST_REQUIRE(body.back() == '\0');
  const auto r = split(body, 4096);
  BOOST_TEST_REQUIRE(r.envelopes.size() == 1u);
  BOOST_TEST(r.envelopes[0] == body.substr(0, body.size() - 1));
  BOOST_TEST(!r.partial);
}

// ---- chunked_body helper ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(chunked_body_decodes_extensions_trailers_and_cut_streams) {
  using ews::test::decode_chunked;
  auto d = decode_chunked("3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n");
  BOOST_TEST(d.body == "abc0123456789");
  BOOST_TEST(d.terminated);
  BOOST_TEST(d.well_formed);

  d = decode_chunked("2\r\nab\r\n");
  BOOST_TEST(d.body == "ab");
  BOOST_TEST(!d.terminated);
  BOOST_TEST(d.well_formed);

  d = decode_chunked("5\r\nab");
  BOOST_TEST(d.body == "ab");
  BOOST_TEST(!d.well_formed);

  d = decode_chunked("<xml/>");
  BOOST_TEST(d.body.empty());
  BOOST_TEST(!d.well_formed);
}

// ---- hand-made constructs ----------------------------------------------------------

namespace {

// Splits `input` at chunk sizes 1, 2, 3, 7, whole, and at every single cut
// point, and requires the same envelopes every time.
std::vector<std::string> split_everywhere(const std::string& input) {
  const auto whole = split(input, input.size() + 1);
  BOOST_TEST(!whole.error.has_value(), "error on: " << input);
  BOOST_TEST(!whole.partial, "partial on: " << input);
  for (const std::size_t chunk : {1, 2, 3, 7}) {
    BOOST_TEST(split(input, chunk).envelopes == whole.envelopes, "chunk " << chunk << ": " << input);
  }
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    envelope_splitter s;
    BOOST_TEST(static_cast<bool>(s.feed(std::string_view(input).substr(0, cut))));
    BOOST_TEST(static_cast<bool>(s.feed(std::string_view(input).substr(cut))));
    std::vector<std::string> got;
    std::string e;
    while (s.next(e)) got.push_back(e);
    BOOST_TEST(got == whole.envelopes, "cut at " << cut << ": " << input);
  }
  return whole.envelopes;
}

using strings = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_CASE(any_prefix_or_none) {
  const std::string a = R"(<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>)";
  const std::string b = R"(<s:Envelope xmlns:s="urn:s"><s:Body>x</s:Body></s:Envelope>)";
  const std::string c = R"(<soap11:Envelope xmlns:soap11="urn:s"><soap11:Body/></soap11:Envelope >)";
  BOOST_TEST(split_everywhere(a + b + c) == (strings{a, b, c}));
}

BOOST_AUTO_TEST_CASE(declaration_and_processing_instructions) {
  const std::string a = R"(<?xml version="1.0" encoding="utf-8"?>)"
                        "\r\n"
                        R"(<?pi a ? b > c ??><e><?inner </e> ?></e>)";
  const std::string b = R"(<?xml version="1.0"?><e/>)";
  BOOST_TEST(split_everywhere(a + "\n" + b) == (strings{a, b}));
}

BOOST_AUTO_TEST_CASE(byte_order_marks_whitespace_and_nuls_between_envelopes) {
  const std::string input = "\xEF\xBB\xBF<a/>\0\r\n \t\xEF\xBB\xBF<?xml version=\"1.0\"?><b>\0</b>\0"s;
  BOOST_TEST(split_everywhere(input) == (strings{"<a/>", "<?xml version=\"1.0\"?><b>\0</b>"s}));
}

BOOST_AUTO_TEST_CASE(comments_hide_markup) {
  const std::string a = "<!-- <a> before --><a><!-- </a> - -- -></a> --->x</a>";
  const std::string b = "<b><!----></b>";
  BOOST_TEST(split_everywhere(a + " <!-- between -->" + b) == (strings{a, "<!-- between -->" + b}));
}

BOOST_AUTO_TEST_CASE(cdata_hides_markup) {
  const std::string a = "<a><![CDATA[</a> ]] ]> ]]]></a>";
  const std::string b = "<b><![CDATA[]]]]><![CDATA[<b>]]]></b>";
  const std::string c = "<c><![CDATA[]]></c>";
  BOOST_TEST(split_everywhere(a + b + c) == (strings{a, b, c}));
}

BOOST_AUTO_TEST_CASE(quoted_attribute_values_hide_markup) {
  const std::string a = R"(<a x=">" y='/>' z="'" w='"'><b c="a>/b"/><d e = "/" >t</d></a>)";
  const std::string b = R"(<b x="/"/>)";
  BOOST_TEST(split_everywhere(a + b) == (strings{a, b}));
}

BOOST_AUTO_TEST_CASE(self_closing_tags) {
  const std::string a = "<a/>";
  const std::string b = "<b />";
  const std::string c = R"(<c><d/><e  x="1"  /><f></f></c>)";
  BOOST_TEST(split_everywhere(a + b + c) == (strings{a, b, c}));
}

BOOST_AUTO_TEST_CASE(text_may_contain_greater_than_and_entities) {
  const std::string a = "<a>1 &lt; 2 &amp;&amp; 3 > 2</a>";
  BOOST_TEST(split_everywhere(a) == (strings{a}));
}

BOOST_AUTO_TEST_CASE(non_ascii_names) {
  const std::string a = "<\xC3\xA9l\xC3\xA9ment>\xE2\x82\xAC</\xC3\xA9l\xC3\xA9ment>";
  BOOST_TEST(split_everywhere(a) == (strings{a}));
}

BOOST_AUTO_TEST_CASE(several_envelopes_in_one_feed) {
  envelope_splitter s;
  BOOST_TEST(static_cast<bool>(s.feed("<a>1</a>\0<b>2</b>\r\n<c>3</c>\0<d>"s)));
  std::string e;
  std::vector<std::string> got;
  while (s.next(e)) got.push_back(e);
  BOOST_TEST(got == (strings{"<a>1</a>", "<b>2</b>", "<c>3</c>"}));
  BOOST_TEST(s.partial());
  BOOST_TEST(s.buffered() == 3u);
  BOOST_TEST(static_cast<bool>(s.feed("4</d>")));
  BOOST_TEST(s.buffered() == 8u);
  BOOST_TEST_REQUIRE(s.next(e));
  BOOST_TEST(e == "<d>4</d>");
  BOOST_TEST(!s.partial());
  BOOST_TEST(s.buffered() == 0u);
  BOOST_TEST(!s.next(e));
}

BOOST_AUTO_TEST_CASE(memory_given_back_through_next_holds_a_later_envelope) {
  // Notification envelopes are several KB each; a reader that passes the
  // same string to next() gets its memory used again, whole or pieced.
  envelope_splitter s;
  const std::string body(4000, 'x');
  const std::string one = "<a>" + body + "</a>";
  const std::string two = "<b>" + body + "</b>";
  const std::string three = "<c>" + body + "</c>";
  std::string e;
  BOOST_TEST(static_cast<bool>(s.feed(one)));
  BOOST_TEST_REQUIRE(s.next(e));
  const void* first_memory = e.data();
  BOOST_TEST(static_cast<bool>(s.feed(two)));
  BOOST_TEST_REQUIRE(s.next(e));  // gives the first envelope's memory back
  BOOST_TEST(e == two);
  // The third arrives in two pieces: its bytes grow in the kept memory.
  BOOST_TEST(static_cast<bool>(s.feed(three.substr(0, 100))));
  BOOST_TEST(static_cast<bool>(s.feed(three.substr(100))));
  BOOST_TEST_REQUIRE(s.next(e));
  BOOST_TEST(e == three);
  BOOST_TEST(static_cast<const void*>(e.data()) == first_memory);
  BOOST_TEST(!s.next(e));
}

// ---- partial, errors, reset --------------------------------------------------------

BOOST_AUTO_TEST_CASE(partial_at_end_of_stream) {
  BOOST_TEST(split("<a><b>", 1).partial);
  BOOST_TEST(split("<a/><b", 1).partial);
  BOOST_TEST(split("<a/><b", 1).envelopes == (strings{"<a/>"}));
  BOOST_TEST(split("<?xml version=\"1.0\"?>", 3).partial);
  BOOST_TEST(split("<a><![CDATA[</a>", 3).partial);
  BOOST_TEST(!split("<a/>\r\n\0"s, 1).partial);
  BOOST_TEST(!split("", 1).partial);
}

BOOST_AUTO_TEST_CASE(garbage_outside_envelopes_is_a_typed_error) {
  const std::vector<std::string> garbage = {
      "HTTP/1.1 401 Unauthorized\r\n\r\n<html/>",
      "<a/>junk<b/>",
      "</a>",
      "<!DOCTYPE html><html></html>",
      "<![CDATA[x]]>",
      "< a/>",
      "<?xml version=\"1.0\"?>x<a/>",
      "\xEF\xBB<a/>",
      "<a/>\x01",
  };
  for (const auto& g : garbage) {
    for (const std::size_t chunk : {1, 7, 4096}) {
      const auto r = split(g, chunk);
      BOOST_TEST((r.error == errc::stream_garbage), "no garbage error for: " << g);
    }
  }
  BOOST_TEST(split("<a/>junk<b/>", 1).envelopes == (strings{"<a/>"}));
}

BOOST_AUTO_TEST_CASE(unframeable_markup_inside_an_envelope_is_malformed_xml) {
  for (const std::string m : {"<a>< b</a>", "<a x=\"<\"></a>", "<a><!DOCTYPE x></a>", "<a><![CDAT x]]></a>",
                              "<a></ b>", "<a></b x=\"1\"></a>", "<a b<c></a>"}) {
    for (const std::size_t chunk : {1, 7, 4096}) {
      BOOST_TEST((split(m, chunk).error == errc::malformed_xml), "no malformed_xml for: " << m);
    }
  }
}

BOOST_AUTO_TEST_CASE(failed_splitter_stays_failed_until_reset) {
  envelope_splitter s;
  BOOST_TEST(static_cast<bool>(s.feed("<ok/>")));
  auto st = s.feed("HTTP/1.1 401");
  BOOST_TEST_REQUIRE(!st);
  BOOST_TEST((st.error().kind() == errc::stream_garbage));
  BOOST_TEST(st.error().message.find("offset 5") != std::string::npos, st.error().message);
  BOOST_TEST(s.failed());
  st = s.feed("<a/>");
  BOOST_TEST_REQUIRE(!st);
  BOOST_TEST((st.error().kind() == errc::stream_garbage));

  std::string e;
  BOOST_TEST_REQUIRE(s.next(e));  // completed before the error
  BOOST_TEST(e == "<ok/>");
  BOOST_TEST(!s.next(e));

  s.reset();
  BOOST_TEST(!s.failed());
  BOOST_TEST(static_cast<bool>(s.feed("<good>data</good>")));
  BOOST_TEST_REQUIRE(s.next(e));
  BOOST_TEST(e == "<good>data</good>");
}

BOOST_AUTO_TEST_CASE(oversize_envelope_fails_at_the_limit_without_buffering_more) {
  splitter_options o;
  o.max_envelope_bytes = 64;
  const std::string fits = "<a>" + std::string(57, 'x') + "</a>";  // exactly 64 bytes
  BOOST_TEST_REQUIRE(fits.size() == 64u);
  const std::string too_big = "<b>" + std::string(58, 'x') + "</b>";  // 65 bytes
  const std::string huge = "<c>" + std::string(100000, 'x') + "</c>";
  for (const std::size_t chunk : {1, 7, 4096, 1 << 20}) {
    auto r = split(fits + "\0"s + fits + too_big + fits, chunk, o);
    BOOST_TEST(r.envelopes == (strings{fits, fits}), "chunk " << chunk);
    BOOST_TEST((r.error == errc::envelope_too_large), "chunk " << chunk);
    BOOST_TEST(r.buffered_at_error <= 64u);

    r = split(huge, chunk, o);
    BOOST_TEST((r.error == errc::envelope_too_large));
    BOOST_TEST(r.buffered_at_error <= 64u);
  }
  // The limit counts the prolog too.
  BOOST_TEST((split("<?xml version=\"1.0\"?>" + fits, 4096, o).error == errc::envelope_too_large));

  envelope_splitter s(o);
  const auto st = s.feed(huge);
  BOOST_TEST_REQUIRE(!st);
  BOOST_TEST(st.error().message.find("offset 64") != std::string::npos, st.error().message);
  s.reset();  // keeps the options
  BOOST_TEST((s.feed(too_big).error().kind() == errc::envelope_too_large));
}

BOOST_AUTO_TEST_CASE(move_keeps_state) {
  envelope_splitter a;
  BOOST_TEST(static_cast<bool>(a.feed("<x><y")));
  envelope_splitter b(std::move(a));
  BOOST_TEST(b.partial());
  BOOST_TEST(static_cast<bool>(b.feed("/></x>")));
  std::string e;
  BOOST_TEST_REQUIRE(b.next(e));
  BOOST_TEST(e == "<x><y/></x>");
  a.reset();  // a moved-from splitter can be reused after reset()
  BOOST_TEST(static_cast<bool>(a.feed("<z/>")));
  BOOST_TEST(a.next(e));
}

BOOST_AUTO_TEST_CASE(two_megabyte_envelope_in_one_byte_pieces_is_linear) {
  // Quadratic rescanning would take minutes here (2M feeds x 1 MB average);
  // linear is a fraction of a second.
  std::string big = "<s:Envelope xmlns:s=\"urn:s\"><s:Body>";
  while (big.size() < 2 * 1024 * 1024) {
    big += R"(<t:Item Id="AAMk/>=" n='1'><!-- c --><t:Body><![CDATA[</t:Item>]]> text &amp; more</t:Body></t:Item>)";
  }
  big += "</s:Body></s:Envelope>";
  envelope_splitter s;
  for (std::size_t i = 0; i < big.size(); ++i) {
    BOOST_TEST_REQUIRE(static_cast<bool>(s.feed(std::string_view(big).substr(i, 1))));
  }
  std::string e;
  BOOST_TEST_REQUIRE(s.next(e));
  BOOST_TEST((e == big));
  BOOST_TEST(!s.partial());
}

// ---- fuzz regressions -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fuzz_regressions_replay_without_breaking_invariants) {
  const fs::path dir = fs::path(EWS_TEST_DIR) / "fixtures" / "fuzz-regressions";
  BOOST_TEST_REQUIRE(fs::is_directory(dir));
  std::size_t replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    const std::string input = read_file(entry.path());
    splitter_options o;
    o.max_envelope_bytes = 4096;
    const auto whole = split(input, input.size() + 1, o);
    for (const std::size_t chunk : {1, 7, 4096}) {
      const auto r = split(input, chunk, o);
      BOOST_TEST(r.envelopes == whole.envelopes, entry.path().filename() << " chunk " << chunk);
      BOOST_TEST((r.error == whole.error), entry.path().filename() << " chunk " << chunk);
      for (const auto& e : r.envelopes) {
        BOOST_TEST((!e.empty() && e.front() == '<' && e.back() == '>'));
        BOOST_TEST(e.size() <= o.max_envelope_bytes);
      }
      BOOST_TEST(r.buffered_at_error <= o.max_envelope_bytes);
    }
    ++replayed;
  }
  BOOST_TEST_MESSAGE(replayed << " fuzz regression inputs replayed");
}

BOOST_AUTO_TEST_SUITE_END()
