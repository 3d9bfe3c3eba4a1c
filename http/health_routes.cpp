#include "http/health_routes.hpp"

#include "http/errors.hpp"

#include <boost/json.hpp>

namespace visitd::http {

void add_health_routes(router& routes, readiness_probe probe) {
  routes.add("GET", "/healthz", [](request&, const responder& respond) {
    respond(json_response(200, boost::json::serialize(boost::json::object{{"status", "ok"}})));
  });
  routes.add("GET", "/readyz", [probe = std::move(probe)](request&, responder respond) {
    probe([respond = std::move(respond)](const domain::result<void>& ready) {
      if (!ready) {
        auto res = error_response(503, "not_ready", ready.err().message);
        res.headers.emplace_back("Retry-After", "1");
        respond(std::move(res));
        return;
      }
      respond(json_response(200, boost::json::serialize(boost::json::object{{"status", "ready"}})));
    });
  });
}

}  // namespace visitd::http
