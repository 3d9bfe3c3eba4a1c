#pragma once

// The HTTPS server: TLS 1.2/1.3, HTTP/1.1 keep-alive, limits enforced before parsing, one line
// of log per request. All Beast/Asio code lives in server.cpp.

#include "domain/error.hpp"
#include "http/router.hpp"
#include "http/tls_identity.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace visitd::http {

/// Hard limits, applied where each connection is made.
struct limits {
  std::size_t body_bytes = std::size_t{1024} * 1024;  ///< Larger request bodies get 413.
  std::size_t header_bytes = std::size_t{16} * 1024;  ///< Larger request headers get 431.
  /// Each request must be read, handled and answered within this (a deadline per request, not
  /// per byte: a client trickling bytes is cut off too), and a keep-alive connection idle this
  /// long is closed.
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds handshake_timeout{10};  ///< TLS handshake must finish within this.
  /// Open connections at most; one more is answered 503 (with Retry-After) and closed.
  std::size_t max_connections = 1024;
  /// Requests per second one client address may make on average, and in a burst; beyond, 429
  /// with Retry-After (a token bucket per address, checked before the request is routed).
  std::size_t requests_per_second = 100;
  std::size_t request_burst = 200;
  /// WebSockets: largest message a client may send (1009 beyond), the idle time after which
  /// the server pings (at half of it) and closes a socket that stays silent (no pong), and
  /// how many messages may wait to be sent before a slow client is closed (close_too_slow).
  std::size_t websocket_message_bytes = std::size_t{64} * 1024;
  std::chrono::seconds websocket_idle_timeout{30};
  std::size_t websocket_send_queue = 256;
};

struct server_options {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8443;   ///< 0 picks a free port (see server::port()).
  std::size_t io_threads = 2;  ///< One io_context per thread; connections spread round-robin.
  limits request_limits;
  std::chrono::milliseconds shutdown_grace{5000};  ///< stop() waits this long for in-flight work.
  bool access_log = true;                          ///< One log line per request.
};

class server {
public:
  virtual ~server() = default;

  /// The port actually listened on.
  [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;

  /// Graceful stop: closes the listener, lets in-flight requests finish for up to
  /// `shutdown_grace`, then stops the io threads. Idempotent.
  ///
  /// Responders handed out earlier may still be called after stop() (their response is then
  /// discarded), so destroy the server only after every producer of responses (the actor
  /// runtime) is shut down.
  virtual void stop() = 0;
};

/// Binds, listens and starts the io threads. `routes` must outlive the server.
[[nodiscard]] domain::result<std::unique_ptr<server>> start_server(const server_options& options,
                                                                   const tls_identity& identity,
                                                                   const router& routes);

}  // namespace visitd::http
