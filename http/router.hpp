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

  /// Finds the handler for `req` and runs it, or answers the error itself.
  void dispatch(request& req, const responder& respond) const;

  /// "METHOD pattern" of every route, in insertion order (for the OpenAPI consistency test).
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

  std::vector<route> routes_;
};

}  // namespace visitd::http
