#pragma once
/// @file
/// Certificates made at test time (OpenSSL API, nothing checked in): a CA,
/// a server certificate it signed for 127.0.0.1/::1/localhost, and one it
/// signed for another host name, as PEM files in a temporary folder that is
/// removed again.

#include <string>

namespace ews::test {

class test_certificates {
 public:
  /// Makes the keys (EC P-256) and certificates (valid from an hour ago for
  /// a day). Throws std::runtime_error if OpenSSL or the file system fails.
  test_certificates();
  /// Removes the folder.
  ~test_certificates();
  test_certificates(const test_certificates&) = delete;
  test_certificates& operator=(const test_certificates&) = delete;

  const std::string& dir() const noexcept { return dir_; }
  /// The CA certificate (what a client trusts).
  const std::string& ca_file() const noexcept { return ca_file_; }
  /// Server certificate for 127.0.0.1, ::1 and localhost, and its key.
  const std::string& server_cert_file() const noexcept { return server_cert_; }
  const std::string& server_key_file() const noexcept { return server_key_; }
  /// Signed by the same CA, but for "other.example" only.
  const std::string& wrong_host_cert_file() const noexcept { return wrong_cert_; }
  const std::string& wrong_host_key_file() const noexcept { return wrong_key_; }

 private:
  std::string dir_, ca_file_, server_cert_, server_key_, wrong_cert_, wrong_key_;
};

}  // namespace ews::test
