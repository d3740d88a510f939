#pragma once
/// @file
/// `ews::secret`: a password, client secret or token. It can be read but not
/// printed: there is no stream operator and no conversion to std::string, so
/// it cannot end up in a log line by accident. Its bytes are overwritten when
/// it is destroyed or assigned over.

#include <ews/result.hpp>

#include <iosfwd>
#include <string>
#include <string_view>

namespace ews {

class secret {
 public:
  secret() = default;
  /// Takes the value; the caller's string is wiped and left empty.
  explicit secret(std::string&& value);
  explicit secret(std::string_view value);
  explicit secret(const char* value) : secret(std::string_view(value)) {}
  secret(const secret& other);
  /// Leaves `other` empty, its bytes wiped.
  secret(secret&& other) noexcept;
  secret& operator=(const secret& other);
  secret& operator=(secret&& other) noexcept;
  ~secret();

  /// The value of environment variable `name`. Errors (errc::invalid_argument)
  /// name the variable, never its value: unset, or empty.
  static result<secret> from_env(const std::string& name);
  /// The content of `path` with one trailing "\n" or "\r\n" removed. Errors
  /// (errc::io_error) name the file: cannot be read, empty, or larger than
  /// 64 KiB (a secret file that big is a wrong path, not a secret).
  static result<secret> from_file(const std::string& path);

  /// The value, for the code that puts it on the wire. Never log it.
  std::string_view reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  /// Printing a secret does not compile.
  friend std::ostream& operator<<(std::ostream&, const secret&) = delete;

 private:
  void wipe() noexcept;
  std::string value_;
};

}  // namespace ews
