#pragma once
// Private: the asio engine's idle keep-alive connections for send(), a few
// per origin. Streams never come here: each has its own connection.

#include "http/asio_connection.hpp"
#include "http/asio_runtime.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ews::soap::detail {

class asio_pool {
 public:
  explicit asio_pool(std::shared_ptr<asio_runtime> runtime) : runtime_(std::move(runtime)) {}
  asio_pool(const asio_pool&) = delete;
  asio_pool& operator=(const asio_pool&) = delete;

  /// The most recently used idle connection to `origin`, or null.
  std::unique_ptr<asio_connection> take(const std::string& origin);
  /// Keeps `c` for the next request to `origin` (dropped, closed, when
  /// enough are idle there already).
  void put(const std::string& origin, std::unique_ptr<asio_connection> c);

 private:
  // Idle connections kept per origin: send() is called from a few threads
  // at a time (fetch batches), never hundreds.
  static constexpr std::size_t max_idle_per_origin = 8;

  std::shared_ptr<asio_runtime> runtime_;  // outlives the sockets below
  std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<asio_connection>>> idle_;
};

}  // namespace ews::soap::detail
