#pragma once

// Plain request/response types the handlers see. Beast stays inside http/server.cpp (the one
// Beast-heavy translation unit): handlers compile fast and are tested without sockets.

#include <functional>
#include <map>
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

}  // namespace visitd::http
