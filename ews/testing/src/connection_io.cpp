#include "connection_io.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdint>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ews::testing::detail {

namespace {

int to_poll_timeout(std::chrono::milliseconds t) {
  if (t.count() < 0) return 0;
  if (t.count() > 24 * 3600 * 1000) return 24 * 3600 * 1000;
  return static_cast<int>(t.count());
}

}  // namespace

connection_io::connection_io(int fd, int stop_fd, int notify_fd, SSL_CTX* tls)
    : fd_(fd), stop_fd_(stop_fd), notify_fd_(notify_fd) {
  if (tls != nullptr) {
    ssl_ = SSL_new(tls);
    if (ssl_ != nullptr) {
      BIO* rbio = BIO_new(BIO_s_mem());
      BIO* wbio = BIO_new(BIO_s_mem());
      if (rbio == nullptr || wbio == nullptr) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl_);
        ssl_ = nullptr;
      } else {
        SSL_set_bio(ssl_, rbio, wbio);
        SSL_set_accept_state(ssl_);
      }
    }
  }
}

connection_io::~connection_io() {
  close();
}

bool connection_io::stopped() const {
  pollfd p{stop_fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool connection_io::raw_send(const char* data, std::size_t size) {
  while (size > 0) {
    if (fd_ < 0) return false;
    const auto n = ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p[2] = {{fd_, POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
      if ((p[1].revents & POLLIN) != 0) return false;
      if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

long connection_io::raw_recv(char* data, std::size_t size) {
  for (;;) {
    if (fd_ < 0) return -1;
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if ((p[1].revents & POLLIN) != 0) return -1;
    if (p[0].revents == 0) continue;
    const auto n = ::recv(fd_, data, size, MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return -1;
  }
}

bool connection_io::flush_tls() {
  BIO* wbio = SSL_get_wbio(ssl_);
  char buf[16384];
  for (;;) {
    const int n = BIO_read(wbio, buf, sizeof buf);
    if (n <= 0) return true;
    if (!raw_send(buf, static_cast<std::size_t>(n))) return false;
  }
}

bool connection_io::handshake() {
  if (ssl_ == nullptr) return true;
  char buf[16384];
  // Bounded: each round either finishes, fails, or consumes peer bytes; a
  // silent peer is interrupted by stop.
  for (;;) {
    const int r = SSL_do_handshake(ssl_);
    if (!flush_tls()) return false;
    if (r == 1) return true;
    if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      return false;
    }
    const long n = raw_recv(buf, sizeof buf);
    if (n <= 0) return false;
    BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(n));
  }
}

bool connection_io::read_some(std::string& out) {
  char buf[16384];
  if (ssl_ == nullptr) {
    const long n = raw_recv(buf, sizeof buf);
    if (n <= 0) return false;
    out.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  for (;;) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    const int err = SSL_get_error(ssl_, n);
    if (!flush_tls()) return false;
    if (err != SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      return false;
    }
    const long r = raw_recv(buf, sizeof buf);
    if (r <= 0) return false;
    BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(r));
  }
}

bool connection_io::write_all(std::string_view data) {
  if (ssl_ == nullptr) return raw_send(data.data(), data.size());
  while (!data.empty()) {
    const int chunk = static_cast<int>(data.size() > 65536 ? 65536 : data.size());
    const int n = SSL_write(ssl_, data.data(), chunk);
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    if (!flush_tls()) return false;
  }
  return true;
}

wait_result connection_io::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return wait_result::timeout;
    if (fd_ < 0) return wait_result::hangup;
    // POLLRDHUP (not POLLIN): a peer that closes is noticed, bytes it may
    // still send are left alone.
    pollfd p[3] = {{fd_, POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}, {notify_fd_, POLLIN, 0}};
    const int r = ::poll(p, 3, to_poll_timeout(left));
    if (r < 0) {
      if (errno == EINTR) continue;
      return wait_result::hangup;
    }
    if (r == 0) continue;
    if ((p[1].revents & POLLIN) != 0) return wait_result::stopped;
    if ((p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) return wait_result::hangup;
    if ((p[2].revents & POLLIN) != 0) {
      std::uint64_t v = 0;
      [[maybe_unused]] const auto n = ::read(notify_fd_, &v, sizeof v);
      return wait_result::notified;
    }
  }
}

void connection_io::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
}

void connection_io::close() {
  if (fd_ < 0) return;
  if (ssl_ != nullptr) {
    if (!stopped() && SSL_is_init_finished(ssl_) == 1) {
      SSL_shutdown(ssl_);
      flush_tls();
    }
    ERR_clear_error();
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::shutdown(fd_, SHUT_WR);
  // Unread input would turn close() into a RST; drop what is already here
  // (bounded: at most 64 reads, never waiting).
  char buf[4096];
  for (int i = 0; i < 64 && ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) > 0; ++i) {
  }
  ::close(fd_);
  fd_ = -1;
}

}  // namespace ews::testing::detail
