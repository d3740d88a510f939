#pragma once
// One accepted socket, plain or TLS, with every wait interruptible by the
// server's stop pipe and by a per-connection notification (gate released).
// TLS runs over memory BIOs so that all socket I/O is ours: non-blocking,
// send() with MSG_NOSIGNAL (no SIGPIPE), and polls that also watch stop.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace ews::testing::detail {

enum class wait_result { timeout, stopped, notified, hangup };

class connection_io {
 public:
  /// Takes ownership of `fd` (not of `stop_fd` or `notify_fd`); `tls` may be
  /// null (plain).
  connection_io(int fd, int stop_fd, int notify_fd, SSL_CTX* tls);
  ~connection_io();
  connection_io(const connection_io&) = delete;
  connection_io& operator=(const connection_io&) = delete;

  /// TLS handshake (no-op for plain). False on failure or stop.
  bool handshake();
  /// Appends what arrives (at least one byte). False: peer closed, error, stop.
  bool read_some(std::string& out);
  /// Writes everything. False: peer gone, error, stop.
  bool write_all(std::string_view data);
  /// Waits for stop, a notification, the peer hanging up, or the timeout.
  wait_result wait(std::chrono::milliseconds timeout);
  /// Abortive close: RST (SO_LINGER 0).
  void reset();
  /// Orderly close (TLS close_notify best effort, FIN).
  void close();

 private:
  bool raw_send(const char* data, std::size_t size);
  long raw_recv(char* data, std::size_t size);  // >0 bytes, 0 EOF, -1 error/stop
  bool flush_tls();
  bool stopped() const;

  int fd_;
  int stop_fd_;
  int notify_fd_;
  SSL* ssl_ = nullptr;
};

}  // namespace ews::testing::detail
