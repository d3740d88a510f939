#pragma once
// Private: the asio engine's io_context and its threads, owned by one
// transport and everything it started (exchanges, pooled connections)
// through shared ownership, so streams may outlive the transport. No
// process-wide state: each transport has its own.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace ews::soap::detail {

class asio_runtime {
 public:
  /// Starts `threads` threads running the io_context.
  explicit asio_runtime(std::size_t threads);
  /// Stops the io_context and joins its threads; a thread of its own
  /// (the last owner let go inside a handler) is detached instead, and the
  /// io_context lives on until that thread has left run().
  ~asio_runtime();
  asio_runtime(const asio_runtime&) = delete;
  asio_runtime& operator=(const asio_runtime&) = delete;

  boost::asio::io_context& context() noexcept { return *io_; }
  /// Whether the calling thread is one of this runtime's threads.
  bool runs_this_thread() const noexcept;

 private:
  std::shared_ptr<boost::asio::io_context> io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace ews::soap::detail
