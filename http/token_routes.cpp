#include "http/token_routes.hpp"

#include "domain/record_json.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/session_auth.hpp"

#include <boost/json.hpp>

#include <memory>

namespace visitd::http {

namespace {

/// Only a tenant's admins, signed in themselves, manage its tokens: a token cannot make, list or
/// revoke tokens (a leaked one cannot entrench itself).
std::optional<response> refuse_unless_admin(const actors::session_info& s,
                                            const domain::tenant& t) {
  if (s.token_tenant)
    return error_response(403, "forbidden", "API tokens are managed by a signed-in admin");
  if (!t.is_admin(s.account))
    return error_response(403, "forbidden", "only the tenant's admins manage API tokens");
  return std::nullopt;
}

}  // namespace

void add_token_routes(router& routes, actors::runtime& runtime) {
  const std::string base = "/api/v1/tenants/{tenant_id}/api-tokens";

  routes.add("POST", base, [&runtime](request& req, const responder& respond) {
    auto body =
      std::make_shared<std::variant<json_fields, body_error>>(read_json_object(req, {"label"}));
    with_tenant_member(
      runtime, req, respond, true,
      [&runtime, respond, body](const actors::session_info& s, const domain::tenant& t) {
        if (auto refused = refuse_unless_admin(s, t)) return respond(std::move(*refused));
        if (auto* err = std::get_if<body_error>(body.get())) return respond(error_response(*err));
        std::string label;
        if (auto err = std::get<json_fields>(*body).string("label", label,
                                                           domain::max_api_token_label_bytes))
          return respond(error_response(*err));
        runtime.create_api_token({t.id, s.account, std::move(label)},
                                 [respond](domain::result<actors::issued_api_token> issued) {
                                   if (!issued) return respond(error_response(issued.err()));
                                   auto out = domain::api_token_json(issued->token);
                                   out["token"] = issued->secret;
                                   respond(json_response(201, boost::json::serialize(out)));
                                 });
      });
  });

  routes.add("GET", base, [&runtime](request& req, const responder& respond) {
    with_tenant_member(
      runtime, req, respond, false,
      [&runtime, respond](const actors::session_info& s, const domain::tenant& t) {
        if (auto refused = refuse_unless_admin(s, t)) return respond(std::move(*refused));
        runtime.list_api_tokens(
          t.id, [respond](domain::result<std::vector<domain::api_token>> tokens) {
            if (!tokens) return respond(error_response(tokens.err()));
            boost::json::array items;
            for (const auto& token : *tokens) items.emplace_back(domain::api_token_json(token));
            respond(json_response(
              200, boost::json::serialize(boost::json::object{{"tokens", std::move(items)}})));
          });
      });
  });

  routes.add("DELETE", base + "/{token_id}", [&runtime](request& req, const responder& respond) {
    std::string id{req.path_params["token_id"]};
    with_tenant_member(
      runtime, req, respond, true,
      [&runtime, respond, id](const actors::session_info& s, const domain::tenant& t) {
        if (auto refused = refuse_unless_admin(s, t)) return respond(std::move(*refused));
        runtime.revoke_api_token({t.id, id, s.account},
                                 [respond](const domain::result<void>& done) {
                                   if (!done) return respond(error_response(done.err()));
                                   response res;
                                   res.status = 204;
                                   res.content_type.clear();
                                   respond(std::move(res));
                                 });
      });
  });
}

}  // namespace visitd::http
