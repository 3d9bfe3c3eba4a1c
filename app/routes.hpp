#pragma once

// Every route the server answers, in one place: `visitd serve` registers them, and the OpenAPI
// consistency test registers them against a stand-in runtime to compare with
// docs/api/openapi.yaml.

#include "actors/runtime.hpp"
#include "auth/secret_key.hpp"
#include "http/router.hpp"
#include "http/smart_routes.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace visitd::app {

/// Adds every route. `runtime` and `join_link_key` must outlive `routes`; `public_url` gives
/// the box's public https base URL; `smart` the SMART sign-in services (http/smart_routes.hpp).
void add_all_routes(http::router& routes, actors::runtime& runtime,
                    std::chrono::seconds session_lifetime, const auth::secret_key& join_link_key,
                    const std::function<std::string()>& public_url,
                    const http::smart_services& smart);

}  // namespace visitd::app
