#pragma once
// The on-disk form of one checkpoint record (sans-I/O, so tests and a fuzzer
// can feed it any bytes).
//
//   ews-checkpoint <version> <kind> <payload-size> sha256:<64 hex>\n
//   <payload>
//
// The payload is a list of fields, each `<decimal length>:<bytes>\n`, so any
// byte string (SyncStates are base64, dedupe keys are opaque) round-trips.
// The checksum covers the kind and the payload: a truncated, extended or
// bit-flipped file, or a file renamed to another kind, fails to decode.
//
// SHA-256 rather than CRC32: OpenSSL is linked already, the files are small,
// and a cryptographic digest also catches multi-bit and edited damage that a
// 32-bit CRC can let through.

#include <ews/result.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ews::detail {

inline constexpr int checkpoint_format_version = 1;

struct checkpoint_record {
  std::string kind;  // "sync", "dedupe", "last-event": [a-z-]+
  std::vector<std::string> fields;
};

std::string encode_record(const checkpoint_record& record);

/// errc::checkpoint_corrupt (message: what is wrong, without the file name:
/// the caller prefixes it) for anything but a well-formed record of the
/// current version.
result<checkpoint_record> decode_record(std::string_view bytes);

/// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace ews::detail
