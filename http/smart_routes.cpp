#include "http/smart_routes.hpp"

#include "actors/wall_clock.hpp"
#include "domain/audit.hpp"
#include "domain/record_json.hpp"
#include "domain/tenant.hpp"
#include "domain/time_format.hpp"
#include "fhir/authorization_secrets.hpp"
#include "fhir/jose.hpp"
#include "http/errors.hpp"
#include "http/launch_routes.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"
#include "http/smart_common.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <utility>

namespace visitd::http {

namespace {

using domain::errc;
using domain::make_error;

// -- the callback -------------------------------------------------------------------------------

struct callback_query {
  std::string state;
  std::string code;
  std::string error;
  std::string error_description;
};

// Lenient on purpose: EHRs add parameters of their own (`iss`, `session_state`, ...), which are
// ignored; only a repeated parameter we read is refused (it could smuggle a second state).
domain::result<callback_query> parse_callback_query(std::string_view query) {
  auto params = query_params::parse_known(query, {"state", "code", "error", "error_description"});
  if (!params) return std::move(params).err();
  callback_query out{params->get("state").value_or(""), params->get("code").value_or(""),
                     params->get("error").value_or(""),
                     params->get("error_description").value_or("")};
  if (out.state.empty()) return make_error(errc::invalid_argument, "state is missing");
  if (out.code.empty() && out.error.empty())
    return make_error(errc::invalid_argument, "neither code nor error was given");
  return out;
}

void finish_validation(actors::runtime& runtime, const request& req, const responder& respond,
                       const fhir::pending_authorization& ctx, const std::string& state,
                       const domain::ehr_user_id& user) {
  const bool json = wants_json(req);
  runtime.complete_validation(
    ctx.tenant, ctx.endpoint, ctx.revision, state, ctx.approver, user,
    [respond, json, ctx, user](domain::result<domain::fhir_endpoint> e) {
      if (!e) {
        auto res = error_response(e.err());
        if (!json) res = page(res.status, "The revision was not validated", e.err().message);
        return respond(std::move(res));
      }
      if (json) {
        boost::json::object out{
          {"validated", true}, {"ehr_user", user.str()}, {"endpoint", domain::endpoint_json(*e)}};
        return respond(json_response(200, domain::json_text(out)));
      }
      respond(page(200, "Validated",
                   "You signed in to the EHR as " + user.str() + ". Revision " +
                     std::to_string(ctx.revision.value()) + " of endpoint " + ctx.endpoint.str() +
                     " is validated; return to the portal to approve it."));
    });
}

void handle_callback(actors::runtime& runtime, const smart_services& s,
                     const auth::secret_key& join_link_key,
                     const std::shared_ptr<provider_links>& links, request& req,
                     const responder& respond) {
  auto query = parse_callback_query(req.query);
  if (!query) return respond(failure(req, 400, "invalid_callback", query.err().message));
  auto binding = cookie_value(req, smart_binding_cookie).value_or("");
  auto ctx = s.pending->take(query->state, binding, now_of(s));
  if (!ctx) return respond(registry_failure(req, ctx.err()));
  if (ctx->tenant.str() != req.path_params["tenant_id"] ||
      ctx->endpoint.str() != req.path_params["endpoint_id"])
    return respond(
      failure(req, 400, "invalid_callback", "this state belongs to another endpoint's sign-in"));
  if (!query->error.empty()) {
    std::string message = "the EHR did not sign you in: " + query->error;
    if (!query->error_description.empty()) message.append(" (" + query->error_description + ")");
    return respond(failure(req, 403, "ehr_refused", message));
  }
  // The request's fields are copied: it is valid only while this handler runs.
  request copy;
  copy.headers = req.headers;
  auto state = query->state;
  auto code = query->code;
  client_assertion_for(
    s, *ctx,
    [&runtime, &join_link_key, links, s, copy, respond, ctx = *ctx, state,
     code](domain::result<std::string> assertion) {
      if (!assertion) return respond(failure(copy, 500, "internal", assertion.err().message));
      fhir::code_exchange exchange{.token_endpoint = ctx.token_endpoint,
                                   .code = code,
                                   .redirect_uri = ctx.redirect_uri,
                                   .code_verifier = ctx.code_verifier,
                                   .client_id = ctx.client_id,
                                   .client_assertion = *assertion,
                                   .trust = ctx.trust};
      fhir::id_token_expectation expected{.issuer = ctx.issuer,
                                          .client_id = ctx.client_id,
                                          .nonce = ctx.nonce,
                                          .jwks_uri = ctx.jwks_uri,
                                          .trust = ctx.trust};
      s.client->finish_sign_in(
        exchange, expected,
        [&runtime, &join_link_key, links, s, copy, respond, ctx,
         state](domain::result<fhir::signed_in_user> user) {
          if (!user) return respond(ehr_failure(copy, user.err()));
          if (ctx.purpose == fhir::authorization_purpose::launch)
            return finish_launch(runtime, s, join_link_key, links, copy, respond, ctx, *user);
          auto ehr_user = fhir::ehr_user_from_fhir_user(user->identity.fhir_user);
          if (!ehr_user) return respond(ehr_failure(copy, ehr_user.err()));
          finish_validation(runtime, copy, respond, ctx, state, *ehr_user);
        });
    });
}

// -- starting a validation ----------------------------------------------------------------------

void start_validation(actors::runtime& runtime, const smart_services& s, const request& req,
                      const responder& respond, const domain::tenant& tenant,
                      const domain::account_id& approver, const domain::endpoint_id& endpoint,
                      domain::revision_number revision) {
  auto binding = binding_for(req);
  if (!binding) return respond(error_response(binding.err()));
  runtime.list_endpoints(
    tenant.id, [&runtime, s, respond, tenant, approver, endpoint, revision,
                binding = *binding](domain::result<std::vector<domain::fhir_endpoint>> all) {
      if (!all) return respond(error_response(all.err()));
      const auto* found = domain::find_endpoint(*all, endpoint);
      if (found == nullptr)
        return respond(error_response(404, "not_found", "no such endpoint revision"));
      const auto* rev = domain::find_revision(*found, revision);
      if (rev == nullptr)
        return respond(error_response(404, "not_found", "no such endpoint revision"));
      auto settings = rev->settings;
      // The flow checks the approver and the revision's state before any call leaves the box.
      runtime.begin_validation(
        tenant.id, endpoint, revision, approver,
        [s, respond, tenant, approver, endpoint, revision, binding,
         settings](domain::result<actors::pending_validation> secrets) {
          if (!secrets) return respond(error_response(secrets.err()));
          sign_in_request request{.purpose = fhir::authorization_purpose::validation,
                                  .launch = domain::launch_kind::provider,
                                  .tenant = tenant.id,
                                  .endpoint = endpoint,
                                  .revision = revision,
                                  .settings = settings,
                                  .approver = approver,
                                  .scopes = {"openid", "fhirUser"},
                                  .launch_parameter = {},
                                  .secrets = {secrets->state, secrets->nonce,
                                              secrets->code_verifier, secrets->code_challenge},
                                  .expires_at = secrets->expires_at};
          begin_sign_in(
            s, std::move(request), binding,
            [s, respond, binding](domain::result<started_sign_in> started) {
              if (!started)
                return respond(started.err().code == errc::rate_limited
                                 ? error_response(started.err())
                                 : error_response(502, "ehr_failure", started.err().message));
              boost::json::object out{{"authorize_url", started->authorize_url},
                                      {"expires_at", domain::format_rfc3339(started->expires_at)}};
              auto res = json_response(200, domain::json_text(out));
              res.headers.emplace_back("Cache-Control", "no-store");
              set_binding_cookie(res, binding, s.sign_in_ttl);
              respond(std::move(res));
            });
        });
    });
}

}  // namespace

void add_smart_routes(router& routes, actors::runtime& runtime, const smart_services& services,
                      const auth::secret_key& join_link_key) {
  auto links = make_provider_links();
  add_launch_routes(routes, runtime, services, join_link_key, links);

  routes.add("POST",
             "/api/v1/tenants/{tenant_id}/endpoints/{endpoint_id}/revisions/{revision}/validation",
             [&runtime, services](request& req, const responder& respond) {
               auto endpoint = domain::endpoint_id::parse(req.path_params["endpoint_id"]);
               auto revision = parse_revision(req.path_params["revision"]);
               request copy;
               copy.headers = req.headers;
               with_tenant_member(
                 runtime, req, respond, true,
                 [&runtime, services, respond, endpoint, revision, copy](
                   const actors::session_info& session, const domain::tenant& tenant) {
                   if (!endpoint || !revision)
                     return respond(error_response(404, "not_found", "no such endpoint revision"));
                   start_validation(runtime, services, copy, respond, tenant, session.account,
                                    *endpoint, *revision);
                 });
             });

  routes.add("GET", "/smart/{tenant_id}/{endpoint_id}/callback",
             [&runtime, &join_link_key, services, links](request& req, const responder& respond) {
               handle_callback(runtime, services, join_link_key, links, req, respond);
             });

  routes.add(
    "POST", "/api/v1/tenants/{tenant_id}/signing-keys/rotate",
    [&runtime, services](request& req, const responder& respond) {
      auto tenant = domain::tenant_id::parse(req.path_params["tenant_id"]);
      with_session(
        runtime, req, respond, true,
        [&runtime, services, respond, tenant](const actors::session_info& session,
                                              const std::string& /*token*/) {
          if (!session.is_operator || session.token_tenant)
            return respond(
              error_response(403, "forbidden", "only an operator rotates a tenant's keys"));
          if (!tenant) return respond(error_response(404, "not_found", "no such tenant"));
          runtime.get_tenant(*tenant, [&runtime, services, respond,
                                       by = session.account](domain::result<domain::tenant> t) {
            if (!t) return respond(error_response(t.err()));
            services.keys->rotate(t->id, [&runtime, respond, by,
                                          tenant = t->id](domain::result<fhir::tenant_keys> keys) {
              if (!keys) return respond(error_response(keys.err()));
              boost::json::array kids;
              for (const auto& k : keys->keys) kids.emplace_back(k.kid());
              boost::json::object after{
                {"tenant", tenant.str()}, {"generation", keys->generation}, {"published", kids}};
              // Under the box, like the operator's other changes to a tenant.
              auto audit = domain::make_audit_entry(domain::box_tenant(), by, "signing_keys.rotate",
                                                    tenant.str(), actors::wall_clock_now(), "",
                                                    domain::json_text(after));
              if (!audit) return respond(error_response(audit.err()));
              runtime.record_audit(std::move(*audit),
                                   [respond, after](const domain::result<void>& ok) {
                                     if (!ok) return respond(error_response(ok.err()));
                                     respond(json_response(200, domain::json_text(after)));
                                   });
            });
          });
        });
    });

  routes.add("GET", "/smart/{tenant_id}/jwks.json",
             [&runtime, services](request& req, const responder& respond) {
               auto tenant = domain::tenant_id::parse(req.path_params["tenant_id"]);
               if (!tenant) return respond(error_response(404, "not_found", "no such tenant"));
               // Only a tenant that exists gets keys: an unknown id must not make key files.
               runtime.get_tenant(*tenant, [services, respond](domain::result<domain::tenant> t) {
                 if (!t) return respond(error_response(404, "not_found", "no such tenant"));
                 services.keys->keys_of(t->id, [respond](domain::result<fhir::tenant_keys> keys) {
                   if (!keys) return respond(error_response(keys.err()));
                   auto res = json_response(200, keys->jwks());
                   res.content_type = "application/jwk-set+json";
                   res.headers.emplace_back("Cache-Control", "public, max-age=300");
                   respond(std::move(res));
                 });
               });
             });
}

}  // namespace visitd::http
