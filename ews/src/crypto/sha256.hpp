#pragma once
// SHA-256 for the library's own uses (checkpoint checksums, dedupe keys),
// from OpenSSL: one place that knows how to call it fast.

#include <array>
#include <initializer_list>
#include <string_view>

namespace ews::detail {

using sha256_digest = std::array<unsigned char, 32>;

/// The digest of `parts` concatenated; false only when OpenSSL cannot
/// allocate. Thread-safe; allocates nothing once the thread has hashed once.
bool sha256(std::initializer_list<std::string_view> parts, sha256_digest& out) noexcept;

}  // namespace ews::detail
