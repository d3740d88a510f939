#pragma once
// Private: one HTTP exchange on cpprestsdk, its body read as a continuation
// chain that hands each piece to a stream_observer as it arrives. Both
// transport::send (through a collecting observer) and streams run on it.
//
// The chain never blocks a pool thread: it takes what the response buffer
// holds, and when it is empty asks for one byte (getn(1)), which completes
// when the next piece arrives (cpprestsdk's getn(n) waits for n bytes, which
// delays envelopes by seconds). Observer calls are serialised by the chain:
// only the chain, or a cancel while the chain is paused, calls the observer.

#include <ews/logging.hpp>
#include <ews/soap/transport.hpp>

#include <cpprest/http_client.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

namespace ews::soap::detail {

class exchange : public std::enable_shared_from_this<exchange> {
 public:
  exchange(std::shared_ptr<web::http::client::http_client> client, std::shared_ptr<stream_observer> observer,
           logger log);
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  /// Sends `request`; the observer hears about the rest.
  void start(web::http::http_request request);
  /// Ends with `error` without sending anything (on a pool thread, like
  /// every observer call).
  void fail(error_info error);
  /// Closes the socket (cancellation token); on_end(cancelled) follows.
  void cancel();
  /// Continues the chain after on_data returned false.
  void resume();
  /// Cancels, waits up to `bound` for on_end, then makes sure no observer
  /// call is running or will start. Safe to call from inside an observer
  /// call (does not wait for itself then).
  void close(std::chrono::milliseconds bound);

 private:
  void on_response(pplx::task<web::http::http_response> task);
  void pump();
  void on_byte(pplx::task<std::size_t> task);
  /// Takes what the response buffer holds now (without waiting), at most `cap`.
  void drain(std::string& into, std::size_t cap);
  /// Delivers one piece; false when the chain must stop (paused or closed).
  bool deliver(std::string_view piece);
  void finish(std::optional<error_info> error);

  // Runs an observer call unless closed; true if it ran.
  template <class F>
  bool call_observer(F&& f);

  std::shared_ptr<web::http::client::http_client> client_;
  std::shared_ptr<stream_observer> observer_;
  logger log_;
  pplx::cancellation_token_source cts_;
  std::optional<Concurrency::streams::streambuf<std::uint8_t>> body_;
  std::uint8_t first_byte_ = 0;
  std::size_t bytes_received_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool head_received_ = false;
  bool chain_active_ = false;     // a continuation of the chain is pending or running
  bool resume_requested_ = false; // resume() came while on_data ran
  bool cancel_requested_ = false;
  bool finished_ = false;         // on_end delivered (or skipped because closed)
  bool closed_ = false;           // no observer call may start
  int calls_running_ = 0;
};

}  // namespace ews::soap::detail
