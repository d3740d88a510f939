#pragma once
/// @file
/// A real HTTP/1.1 server on 127.0.0.1 that plays a scenario, injects faults
/// and records what it received, for testing EWS clients offline.
///
///     ews::testing::replay_server server(*ews::testing::load_scenario(dir));
///     client.connect(server.url());
///     ...
///     BOOST_TEST(server.wait_for("GetItem", 3, std::chrono::seconds(5)));
///     auto v = server.verify();
///     BOOST_TEST(v.ok, v.report());
///
/// Matching: a request is answered by the next unconsumed exchange whose
/// expectation's operation equals the request's operation (order is kept per
/// operation, so concurrent connections do not race each other; an exchange
/// with an empty operation matches any request when its turn comes). Failing
/// checks are recorded (the exchange still answers). A request no exchange is
/// left for goes to a responder registered with on(); if there is none it is
/// an unexpected request: recorded as a failure and answered with 500.
/// A forbidden operation is always a failure (answered by its exchange or
/// responder if any, else 500).

#include <ews/testing/scenario.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ews::testing {

struct server_options {
  /// 0: an ephemeral port.
  std::uint16_t port = 0;
  /// Path used by url().
  std::string path = "/EWS/Exchange.asmx";
  /// Both set: serve HTTPS (TLS 1.2+) with this PEM certificate (chain) and key.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Connections served at once; more wait in the listen backlog.
  std::size_t max_connections = 64;
  /// Larger request bodies are answered 413 and recorded as a failure.
  std::size_t max_request_bytes = 64 * 1024 * 1024;
};

/// Outcome of replay_server::verify().
struct verification {
  bool ok = true;
  std::vector<std::string> failures;  ///< one readable sentence each
  /// All failures, one per line ("all expectations met" when ok).
  std::string report() const;
};

class replay_server {
 public:
  /// Binds and starts serving at once. Throws ews::error (errc::io_error,
  /// errc::tls_failure) when it cannot listen or load the certificate.
  explicit replay_server(scenario s = {}, server_options options = {});
  /// Stops: closes every connection (also stalled and held ones) and joins
  /// every thread.
  ~replay_server();
  replay_server(const replay_server&) = delete;
  replay_server& operator=(const replay_server&) = delete;

  std::uint16_t port() const noexcept;
  /// "http://127.0.0.1:PORT/EWS/Exchange.asmx" (https when TLS is on).
  std::string url() const;
  /// "http://127.0.0.1:PORT" without a path.
  std::string origin() const;

  /// Appends a scripted exchange (usable while serving).
  void add(exchange e);
  /// Answers every request of `operation` ("" = any) that no scripted
  /// exchange is left for. A responder for the request's operation comes
  /// before a catch-all one; the latest registration wins within each.
  void on(std::string operation, responder r);
  /// Any request of this operation is a failure.
  void forbid(std::string operation);

  /// Opens a gate: chunks waiting on it (now or later) are sent.
  void release(std::string_view gate);

  /// Waits until at least `count` requests of `operation` ("" = any) have
  /// been received (answered or not). False on timeout.
  bool wait_for(std::string_view operation, std::size_t count,
                std::chrono::milliseconds timeout) const;
  /// Waits until the response to the `count`-th request of `operation` has
  /// been written (every chunk, the final 0-chunk when the ending is final;
  /// before a close, reset or hold is applied). False on timeout.
  bool wait_for_responses(std::string_view operation, std::size_t count,
                          std::chrono::milliseconds timeout) const;
  /// Waits until no connection is open. False on timeout.
  bool wait_idle(std::chrono::milliseconds timeout) const;

  /// Every request received so far, in arrival order.
  std::vector<received_request> received() const;
  /// Requests of `operation` received so far.
  std::size_t count(std::string_view operation) const;
  /// Connections accepted so far / open now.
  std::size_t connections_accepted() const;
  std::size_t connections_open() const;

  /// Whether every exchange was consumed, every check passed, nothing
  /// unexpected or forbidden came.
  verification verify() const;

  /// Stops serving (as the destructor). Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ews::testing
