#include "checkpoint/record_codec.hpp"

#include "crypto/sha256.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace ews::detail {
namespace {

constexpr std::string_view magic = "ews-checkpoint";
// A header line is short; anything longer is not ours.
constexpr std::size_t max_header = 256;

error_info corrupt(std::string what) { return make_error(errc::checkpoint_corrupt, std::move(what)); }

bool valid_kind(std::string_view kind) {
  return !kind.empty() && kind.size() <= 32 &&
         std::all_of(kind.begin(), kind.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
}

// Splits off the next space-separated token of `line`.
std::string_view next_token(std::string_view& line) {
  const auto end = line.find(' ');
  std::string_view token = line.substr(0, end);
  line = end == std::string_view::npos ? std::string_view{} : line.substr(end + 1);
  return token;
}

bool parse_size(std::string_view text, std::size_t& out) {
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return false;
  out = static_cast<std::size_t>(value);
  return true;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  sha256_digest digest;
  // Fails only when OpenSSL cannot allocate; an empty digest never matches a
  // stored one, so a read reports corruption rather than trusting data.
  if (!sha256({data}, digest)) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0xf];
  }
  return out;
}

std::string encode_record(const checkpoint_record& record) {
  std::string payload;
  for (const auto& field : record.fields) {
    payload += std::to_string(field.size());
    payload += ':';
    payload += field;
    payload += '\n';
  }
  std::string out(magic);
  out += ' ';
  out += std::to_string(checkpoint_format_version);
  out += ' ';
  out += record.kind;
  out += ' ';
  out += std::to_string(payload.size());
  out += " sha256:";
  out += sha256_hex(record.kind + '\n' + payload);
  out += '\n';
  out += payload;
  return out;
}

result<checkpoint_record> decode_record(std::string_view bytes) {
  const auto eol = bytes.substr(0, max_header).find('\n');
  if (eol == std::string_view::npos) return corrupt("no checkpoint header line");
  std::string_view header = bytes.substr(0, eol);
  const std::string_view payload = bytes.substr(eol + 1);

  if (next_token(header) != magic) return corrupt("not a checkpoint file (bad magic)");
  const std::string_view version = next_token(header);
  std::size_t version_number = 0;
  if (!parse_size(version, version_number)) return corrupt("unreadable format version");
  if (version_number != static_cast<std::size_t>(checkpoint_format_version)) {
    return corrupt("format version " + std::string(version) + " is not supported (expected " +
                   std::to_string(checkpoint_format_version) + ")");
  }
  checkpoint_record record;
  record.kind = std::string(next_token(header));
  if (!valid_kind(record.kind)) return corrupt("bad record kind");
  std::size_t size = 0;
  if (!parse_size(next_token(header), size)) return corrupt("unreadable payload size");
  const std::string_view sum = next_token(header);
  if (sum.substr(0, 7) != "sha256:" || !header.empty()) return corrupt("bad checksum field");
  if (payload.size() != size) {
    return corrupt("payload is " + std::to_string(payload.size()) + " bytes, header says " +
                   std::to_string(size) + " (truncated or extended)");
  }
  if (sha256_hex(record.kind + '\n' + std::string(payload)) != sum.substr(7)) {
    return corrupt("checksum mismatch");
  }

  // The checksum matched, so a malformed field list means a writer bug or a
  // forged file: still reported, never trusted.
  std::string_view rest = payload;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    std::size_t length = 0;
    if (colon == std::string_view::npos || !parse_size(rest.substr(0, colon), length) ||
        rest.size() - colon - 1 < length + 1 || rest[colon + 1 + length] != '\n') {
      return corrupt("malformed field list");
    }
    record.fields.emplace_back(rest.substr(colon + 1, length));
    rest.remove_prefix(colon + 1 + length + 1);
  }
  return record;
}

}  // namespace ews::detail
