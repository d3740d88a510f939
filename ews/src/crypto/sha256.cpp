#include "crypto/sha256.hpp"

#include <openssl/evp.h>

#include <memory>

namespace ews::detail {
namespace {

// With OpenSSL 3, a digest initialised from EVP_sha256() looks the algorithm
// up in the providers each time (about half the cost of hashing a dedupe
// key); fetched once, the method is an immutable handle any thread may use.
// Kept for the life of the process (the static still points at it, so leak
// checkers stay quiet).
const EVP_MD* sha256_method() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
#else
  return EVP_sha256();
#endif
}

using digest_context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// A context per thread, initialised again for each digest: a new one cost two
// allocations each time (the context and the provider's state). Freed when
// the thread ends (the main thread's before OpenSSL's exit cleanup); made
// again if making it failed once.
EVP_MD_CTX* thread_context() {
  thread_local digest_context ctx(nullptr, &EVP_MD_CTX_free);
  if (!ctx) ctx.reset(EVP_MD_CTX_new());
  return ctx.get();
}

}  // namespace

bool sha256(std::initializer_list<std::string_view> parts, sha256_digest& out) noexcept {
  EVP_MD_CTX* const ctx = thread_context();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, sha256_method(), nullptr) != 1) return false;
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) return false;
  }
  unsigned int size = 0;
  return EVP_DigestFinal_ex(ctx, out.data(), &size) == 1 && size == out.size();
}

}  // namespace ews::detail
