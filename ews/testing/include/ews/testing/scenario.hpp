#pragma once
/// @file
/// A replay scenario: the ordered exchanges a replay_server plays, as plain
/// values. Build one in C++ or load it from a folder holding a `manifest`
/// file and body files.
///
/// Manifest format (one directive per line; `#` starts a comment line;
/// leading whitespace is ignored; the full reference is in
/// tests/fixtures/scenarios/README.md):
///
///     scenario gromox-basic            # optional name
///     forbid SyncFolderItems           # any such request fails verify()
///     exchange subscribe               # starts an exchange (label optional)
///       operation Subscribe            # local name of the Body's first child
///       body-contains <t:FolderId      # request checks (repeatable)
///       body-excludes Password
///       header-equals X-PreferServerAffinity: true
///       header-contains Cookie: X-BackEndOverrideCookie=
///       header-excludes Authorization: Basic
///       header-present X-AnchorMailbox
///       header-absent X-BackEndOverrideCookie
///       status 200 OK                  # response (default 200)
///       header Content-Type: text/xml; charset=utf-8
///       body 01-subscribe.response.xml # body from a file in the folder
///       body-text <inline text with \r\n escapes>
///       chunk file=02.chunk-1.xml      # streaming: sent chunked, as given
///       chunk after=250ms gate=second text=<Envelope ...>
///       reset-after 120                # fault: RST after 120 response bytes
///       end final | close | reset | hold [DURATION]
///       raw garbage.bin                # fault: these bytes instead of HTTP
///       request-body 01.request.xml    # the recorded request, informational
///
/// Durations: `250ms`, `2s`, `1m`. `text=` takes the rest of the line and
/// understands `\r \n \t \\ \xHH`.

#include <ews/result.hpp>
#include <ews/soap/transport.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews::testing {

/// One request as the server received it.
struct received_request {
  std::string method;
  std::string target;      ///< request target, e.g. "/EWS/Exchange.asmx"
  soap::http_headers headers;
  std::string body;        ///< decoded (Content-Length or chunked)
  std::string operation;   ///< local name of the SOAP Body's first child; "" if none
  std::string exchange;    ///< label of the exchange that answered; "" if none
  std::size_t connection = 0;  ///< 1-based number of the TCP connection it came on
  std::chrono::steady_clock::time_point at;
};

/// What a request must look like. Empty fields check nothing.
struct request_expectation {
  std::string operation;  ///< "" matches any operation
  std::vector<std::string> body_contains;
  std::vector<std::string> body_excludes;
  std::vector<soap::http_header> header_equals;    ///< present with exactly this value
  std::vector<soap::http_header> header_contains;  ///< present, value contains
  std::vector<soap::http_header> header_excludes;  ///< absent, or value does not contain
  std::vector<std::string> header_present;
  std::vector<std::string> header_absent;
};

/// One HTTP chunk of a streaming response.
struct chunk {
  std::string data;  ///< sent as one chunk, exactly these bytes
  /// Wait this long before sending (a stall before the chunk).
  std::chrono::milliseconds after{0};
  /// If set, wait until replay_server::release(gate) before sending.
  std::string gate;
  /// Write `data` verbatim without chunk framing (garbage on the wire).
  bool raw = false;
};

/// How a response ends once its body or last chunk is out.
enum class ending {
  final,   ///< normal end (final 0-chunk for chunked); connection stays usable
  close,   ///< close the socket; chunked: without the final 0-chunk
  reset,   ///< abortive close (RST, SO_LINGER 0)
  hold,    ///< keep the socket open, send nothing more, until the client
           ///< closes, `hold_for` passes, or the server stops
};

/// A generator for endless or generated streams: called with 0, 1, 2, ...
/// on the connection's thread until it returns nullopt. It may block for at
/// most ~100 ms per call (use chunk::after and chunk::gate for longer waits);
/// a chunk with empty `data` sends nothing, so returning one is how a source
/// says "nothing yet, ask again".
using chunk_source = std::function<std::optional<chunk>(std::size_t index)>;

struct response {
  int status = 200;
  std::string reason;          ///< "" -> the standard reason phrase
  soap::http_headers headers;  ///< Content-Length/Transfer-Encoding are set by the server;
                               ///< Content-Type defaults to text/xml; charset=utf-8
  std::string body;            ///< used when `chunks` and `more_chunks` are empty
  /// Non-empty (or `more_chunks` set): Transfer-Encoding: chunked, these
  /// chunks in order, then `more_chunks` if set.
  std::vector<chunk> chunks;
  chunk_source more_chunks;
  ending end = ending::final;
  std::chrono::milliseconds hold_for = std::chrono::hours(1);  ///< for ending::hold
  /// Fault: abortive close (RST) after this many bytes of the response
  /// (status line and headers included) have been written.
  std::optional<std::size_t> reset_after_bytes;
  /// Fault: write exactly these bytes instead of an HTTP response; then
  /// the socket is closed (`reset`: RST; `hold`: kept open as above).
  std::optional<std::string> raw;

  bool streaming() const noexcept { return !chunks.empty() || static_cast<bool>(more_chunks); }
};

/// Computes a response for a request (dynamic answers, e.g. GetItem for the
/// ids that were asked).
using responder = std::function<response(const received_request&)>;

/// One expected request and its answer.
struct exchange {
  std::string label;  ///< for reports; "" -> "#<index>"
  request_expectation expect;
  response respond;
  responder respond_with;  ///< if set, used instead of `respond`
  /// The request as recorded (redacted); informational, never checked.
  std::string recorded_request;
};

struct scenario {
  std::string name;
  std::vector<exchange> exchanges;
  std::vector<std::string> forbidden_operations;
};

/// Reads a body file named in a manifest (relative name as written).
using file_reader = std::function<result<std::string>(std::string_view name)>;

/// Parses manifest text. Pure: files are read only through `read`. Errors
/// (errc::invalid_argument) name `manifest_name` and the line number.
result<scenario> parse_manifest(std::string_view text, std::string_view manifest_name,
                                const file_reader& read);

/// Loads `dir`/manifest and the body files it names (names may not leave
/// the folder).
result<scenario> load_scenario(const std::string& dir);

/// Writes a scenario (without responders or chunk sources) as `dir`/manifest
/// plus one file per body and chunk. Creates `dir`.
status save_scenario(const scenario& s, const std::string& dir);

/// The local name of the first child element of the SOAP Body in `body`
/// ("GetItem"), or "" if there is none. Tolerant: never fails.
std::string operation_of(std::string_view soap_body);

// Ready-made responses for the usual faults.

/// A 200 text/xml response with `body` (a SOAP envelope, e.g. an EWS error).
response soap_response(std::string body, int status = 200);
/// 503 or 429 (or any status) with Retry-After in seconds and an empty body.
response http_error(int status, std::chrono::seconds retry_after);
/// 302 (or another 3xx) pointing to `location`.
response redirect(std::string location, int status = 302);
/// A streaming 200 response with these chunks.
response streaming_response(std::vector<chunk> chunks, ending end = ending::final);

}  // namespace ews::testing
