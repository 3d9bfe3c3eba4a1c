#pragma once

// Plain request/response types the handlers see. Beast stays inside http/server.cpp (the one
// Beast-heavy translation unit): handlers compile fast and are tested without sockets.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace visitd::http {

struct request {
  std::string method;  ///< "GET", "POST", ...
  std::string path;    ///< Path as sent (still percent-encoded), without the query.
  std::string query;   ///< Raw query string without '?', possibly empty.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
  std::map<std::string, std::string, std::less<>> path_params;  ///< Filled by the router.

  /// The first header named `name` (case-insensitive), or empty.
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Completes a request. Call exactly once, from any thread: the server moves the response back
/// onto the connection's own thread before writing it.
using responder = std::function<void(response)>;

/// Handles one request. Must not block: work that waits (an actor, the store, a remote EHR)
/// finishes later by calling the responder.
using handler = std::function<void(request&, responder)>;

// -- WebSockets -------------------------------------------------------------------------------

/// Close codes the server uses besides the standard ones (1000 normal, 1001 going away, 1009
/// message too big, 1011 internal error).
inline constexpr std::uint16_t close_too_slow = 4008;  ///< Its send queue filled up.

/// A WebSocket the server accepted, as a route sees it. Thread-safe: call from any thread; the
/// work is moved onto the connection's own thread.
class socket_channel {
public:
  virtual ~socket_channel() = default;
  /// Queues a text message. When the queue already holds the limit
  /// (`limits::websocket_send_queue`), the socket is closed with `close_too_slow` instead.
  virtual void send(std::string text) = 0;
  /// Closes the socket with `code` and `reason` (at most 123 bytes).
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

/// What a route does with its socket. Called on the connection's thread: `on_open` once, then
/// `on_text` per message, then `on_close` once whatever ended it (either side, a timeout, an
/// error). Neither is called when the WebSocket handshake itself fails. Must not block.
class socket_listener {
public:
  virtual ~socket_listener() = default;
  virtual void on_open(std::shared_ptr<socket_channel> channel) = 0;
  virtual void on_text(std::string_view text) = 0;
  virtual void on_close() = 0;
};

/// How a socket route answers an upgrade request, exactly once, from any thread: `accept`
/// completes the WebSocket handshake with the listener; `reject` answers with a plain HTTP
/// response instead (401, 404, ...).
struct socket_decision {
  std::function<void(std::shared_ptr<socket_listener>)> accept;
  responder reject;
};

/// Handles one upgrade request (the request is valid only while it runs, like a handler's).
using socket_handler = std::function<void(request&, socket_decision)>;

}  // namespace visitd::http
