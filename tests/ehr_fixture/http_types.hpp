#pragma once

// Transport-independent HTTP request and response of the test EHR: the Beast server
// (server.cpp) converts to and from these, so nothing else in the fixture includes Beast.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace visitd::test_ehr {

struct http_request {
  std::string method;                          ///< "GET", "POST", ...
  std::string target;                          ///< Path and query, as sent.
  std::map<std::string, std::string> headers;  ///< Lower-case names; repeats joined by ", ".
  std::string body;

  /// The header's value, or "" when absent.
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

struct http_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// True: send nothing and close the TCP connection (an outage as the client sees it).
  bool drop_connection = false;
};

/// Completes a request; called exactly once, on the io thread.
using reply_fn = std::function<void(http_response)>;

/// Runs a function on the io thread (from any thread).
using post_fn = std::function<void(std::function<void()>)>;

/// Runs a function on the io thread once the delay has passed (a timer: the thread stays free
/// for other requests meanwhile). Call on the io thread only. Never runs after shutdown began.
using after_fn = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

/// What the server calls for each request. Runs on the io thread; may answer later (through
/// `reply`) when the answer needs blocking work on another thread.
class http_handler {
public:
  virtual ~http_handler() = default;
  virtual void handle(http_request request, reply_fn reply) = 0;
};

}  // namespace visitd::test_ehr
