#include <ews/secret.hpp>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ews {
namespace {

// A secret file larger than this is a wrong path (a log, a binary), not a secret.
constexpr std::size_t max_secret_file = 64 * 1024;

// Overwrites the whole buffer, not just size(): a shorter value may follow a
// longer one in the same storage. OPENSSL_cleanse cannot be optimised away.
void cleanse(std::string& s) noexcept {
  if (s.capacity() > 0) {
    s.resize(s.capacity());  // no reallocation: within capacity
    OPENSSL_cleanse(s.data(), s.size());
  }
  s.clear();
}

}  // namespace

secret::secret(std::string&& value) : value_(value) { cleanse(value); }
secret::secret(std::string_view value) : value_(value) {}
secret::secret(const secret& other) : value_(other.value_) {}
secret::secret(secret&& other) noexcept {
  // A moved-from short string keeps its bytes in its inline buffer: copy and wipe instead.
  try {
    value_ = other.value_;
  } catch (...) {
    value_.swap(other.value_);
  }
  other.wipe();
}

secret& secret::operator=(const secret& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

secret& secret::operator=(secret&& other) noexcept {
  if (this != &other) {
    wipe();
    try {
      value_ = other.value_;
    } catch (...) {
      value_.swap(other.value_);
    }
    other.wipe();
  }
  return *this;
}

secret::~secret() { wipe(); }

void secret::wipe() noexcept { cleanse(value_); }

result<secret> secret::from_env(const std::string& name) {
  if (name.empty()) return make_error(errc::invalid_argument, "no environment variable name given for a secret");
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return make_error(errc::invalid_argument, "environment variable " + name + " is not set");
  if (*value == '\0') return make_error(errc::invalid_argument, "environment variable " + name + " is empty");
  return secret(std::string_view(value));
}

result<secret> secret::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return make_error(errc::io_error,
                      "cannot read secret file " + path + (err != 0 ? ": " + std::string(std::strerror(err)) : ""));
  }
  std::string content;
  content.reserve(4096);  // typical secrets never reallocate (which would leave a copy behind)
  char buffer[512];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    content.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (content.size() > max_secret_file) {
      OPENSSL_cleanse(buffer, sizeof buffer);
      cleanse(content);
      return make_error(errc::io_error, "secret file " + path + " is larger than 64 KiB");
    }
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  if (in.bad()) {
    cleanse(content);
    return make_error(errc::io_error, "cannot read secret file " + path);
  }
  // Editors and `echo` add a final newline that is not part of the secret.
  if (!content.empty() && content.back() == '\n') content.pop_back();
  if (!content.empty() && content.back() == '\r') content.pop_back();
  if (content.empty()) return make_error(errc::io_error, "secret file " + path + " is empty");
  return secret(std::move(content));
}

}  // namespace ews
