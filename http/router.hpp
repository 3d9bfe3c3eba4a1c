#pragma once

#include "http/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace visitd::http {

/// A route table: method + path pattern -> handler. Patterns are literal segments or `{name}`
/// segments, e.g. "/api/v1/visits/{visit_id}"; a `{name}` segment matches one non-empty
/// segment and is passed in request::path_params. Unknown paths get 404, known paths with
/// another method 405 (with an Allow header), both as JSON error bodies.
class router {
public:
  /// Adds a route. Later routes never shadow earlier ones: the first match wins.
  void add(std::string method, std::string pattern, handler h);

  /// Adds a WebSocket route: a GET upgrade request to `pattern` goes to `h`.
  void add_socket(std::string pattern, socket_handler h);

  /// Finds the handler for `req` and runs it, or answers the error itself.
  void dispatch(request& req, const responder& respond) const;

  /// The socket handler for an upgrade request to `req.path` (path parameters filled in), or
  /// null when no socket route matches.
  [[nodiscard]] const socket_handler* find_socket(request& req) const;

  /// "METHOD pattern" of every route, in insertion order, then "GET pattern" of every socket
  /// route (for the OpenAPI consistency test).
  [[nodiscard]] std::vector<std::string> describe() const;

private:
  struct route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    handler on_request;
  };

  static bool match(const route& r, const std::vector<std::string_view>& path_segments,
                    request* fill);

  struct socket_route {
    route shape;  ///< Its method is "GET"; on_request is unused.
    socket_handler on_upgrade;
  };

  std::vector<route> routes_;
  std::vector<socket_route> sockets_;
};

}  // namespace visitd::http
