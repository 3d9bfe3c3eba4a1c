#pragma once

// A blocking WebSocket client for tests (Beast, TLS with one pinned certificate): upgrade with
// extra headers (a session cookie, an Origin), send and read text with a timeout, and see how
// the server closed the socket.

#include "tls_client.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace visitd::test {

/// The upgrade was answered with plain HTTP instead (a route's refusal).
struct upgrade_refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The server closed the socket; `code` is its close code.
struct socket_closed : std::runtime_error {
  socket_closed(std::uint16_t c, const std::string& reason)
    : std::runtime_error("closed " + std::to_string(c) + ": " + reason), code(c) {}
  std::uint16_t code;
};

class ws_client {
public:
  /// Connects and upgrades to `target` (path and query). Throws upgrade_refused, or
  /// std::runtime_error for anything else.
  ws_client(const tls_client_options& options, const std::string& target,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  void send(const std::string& text);
  /// The next text message; throws socket_closed when the server closed (its close frame
  /// arrived), std::runtime_error on timeout or any other error.
  std::string read(std::chrono::milliseconds timeout = std::chrono::seconds{5});
  /// Closes normally (1000).
  void close();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace visitd::test
