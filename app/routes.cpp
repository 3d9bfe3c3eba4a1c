#include "app/routes.hpp"

#include "http/audit_routes.hpp"
#include "http/endpoint_routes.hpp"
#include "http/health_routes.hpp"
#include "http/lobby_routes.hpp"
#include "http/session_routes.hpp"
#include "http/stream_routes.hpp"
#include "http/tenant_routes.hpp"
#include "http/token_routes.hpp"
#include "http/visit_routes.hpp"
#include "http/write_back_routes.hpp"

namespace visitd::app {

void add_all_routes(http::router& routes, actors::runtime& runtime,
                    std::chrono::seconds session_lifetime, const auth::secret_key& join_link_key,
                    const std::function<std::string()>& public_url,
                    const http::smart_services& smart) {
  http::add_health_routes(routes,
                          [rt = &runtime](auto done) { rt->probe_readiness(std::move(done)); });
  http::add_session_routes(routes, runtime, session_lifetime);
  http::add_tenant_routes(routes, runtime);
  http::add_token_routes(routes, runtime);
  http::add_endpoint_routes(routes, runtime, public_url);
  http::add_visit_routes(routes, runtime, join_link_key);
  http::add_audit_routes(routes, runtime);
  http::add_write_back_routes(routes, runtime);
  http::add_stream_routes(routes, runtime, join_link_key);
  http::add_lobby_routes(routes, runtime);
  http::add_smart_routes(routes, runtime, smart, join_link_key);
}

}  // namespace visitd::app
