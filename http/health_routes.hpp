#pragma once

#include "domain/error.hpp"
#include "http/router.hpp"

#include <functional>

namespace visitd::http {

/// Asks the rest of the process whether it can serve: calls its argument exactly once, from any
/// thread, with OK or the reason it cannot.
using readiness_probe = std::function<void(std::function<void(domain::result<void>)>)>;

/// GET /healthz: the process is alive and its io threads answer (no dependencies consulted).
/// GET /readyz: `probe` succeeded (store open, actor system answering); 503 with the reason
/// otherwise.
void add_health_routes(router& routes, readiness_probe probe);

}  // namespace visitd::http
