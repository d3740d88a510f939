#include "http/asio_runtime.hpp"

namespace ews::soap::detail {
namespace {

// The runtime whose io_context this thread runs (compared, never used).
thread_local const asio_runtime* running_runtime = nullptr;

}  // namespace

asio_runtime::asio_runtime(std::size_t threads)
    : io_(std::make_shared<boost::asio::io_context>(static_cast<int>(threads))), work_(io_->get_executor()) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    // Each thread shares the io_context: if the last owner goes away on one
    // of these threads, that thread is detached and still inside run(); its
    // copy keeps the io_context alive until run() has returned.
    threads_.emplace_back([io = io_, self = this] {
      running_runtime = self;
      io->run();
    });
  }
}

bool asio_runtime::runs_this_thread() const noexcept { return running_runtime == this; }

asio_runtime::~asio_runtime() {
  work_.reset();
  io_->stop();
  for (auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // never join a thread from itself; it leaves run() right after this handler
    } else {
      t.join();
    }
  }
}

}  // namespace ews::soap::detail
