#pragma once

// Signing in and out of the portal:
//   POST   /api/v1/session  {"login", "password"} -> 201, the session cookies and the account
//   GET    /api/v1/session  -> 200, who is signed in (401 if nobody)
//   DELETE /api/v1/session  (CSRF header) -> 204, the session ended and the cookies cleared

#include "actors/runtime.hpp"
#include "http/router.hpp"

#include <chrono>

namespace visitd::http {

/// `runtime` must outlive the routes. `session_lifetime` sets the cookies' Max-Age (the
/// accounts actor enforces the lifetime itself).
void add_session_routes(router& routes, actors::runtime& runtime,
                        std::chrono::seconds session_lifetime);

}  // namespace visitd::http
