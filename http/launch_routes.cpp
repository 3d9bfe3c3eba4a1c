#include "http/launch_routes.hpp"

#include "actors/wall_clock.hpp"
#include "auth/join_links.hpp"
#include "auth/tokens.hpp"
#include "domain/audit.hpp"
#include "domain/integration_records.hpp"
#include "domain/join_grant.hpp"
#include "domain/time_format.hpp"
#include "fhir/authorization_secrets.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"
#include "http/smart_common.hpp"
#include "http/visit_json.hpp"
#include "http/visit_routes.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace visitd::http {

using domain::errc;
using domain::make_error;

// -- the provider's one-time account link -------------------------------------------------------

/// What a provider who launched before linking may link: one EHR user of one tenant, and the
/// visit they were launching into.
struct pending_link {
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  domain::ehr_user_id user;
  std::optional<domain::fhir_reference> appointment;
  std::optional<domain::fhir_reference> encounter;
  domain::timestamp expires_at{};
};

class provider_links {
public:
  static constexpr std::size_t capacity = 10'000;

  domain::result<std::string> add(pending_link link, domain::timestamp now) {
    auto token = auth::random_token();
    std::lock_guard lock{mutex_};
    std::erase_if(links_, [now](const auto& kv) { return now >= kv.second.expires_at; });
    if (links_.size() >= capacity)
      return make_error(errc::rate_limited, "too many account links pending; try again later");
    links_.emplace(auth::token_digest(token), std::move(link));
    return token;
  }

  /// Used up whatever follows.
  domain::result<pending_link> take(std::string_view token, domain::timestamp now) {
    std::lock_guard lock{mutex_};
    auto it = links_.find(auth::token_digest(token));
    if (it == links_.end())
      return make_error(errc::invalid_argument,
                        "link_token: unknown or already used (launch from the EHR again)");
    auto link = std::move(it->second);
    links_.erase(it);
    if (now >= link.expires_at)
      return make_error(errc::conflict, "link_token: expired (launch from the EHR again)");
    return link;
  }

private:
  std::mutex mutex_;
  std::map<std::string, pending_link, std::less<>> links_;
};

std::shared_ptr<provider_links> make_provider_links() {
  return std::make_shared<provider_links>();
}

namespace {

/// The account of EHR launches where no portal account acts (a patient's launch opening the
/// visit), as the audit log's actor.
const domain::account_id& ehr_launch_actor() {
  static const auto id = domain::account_id::parse("ehr-launch").value();
  return id;
}

std::optional<domain::launch_kind> parse_kind(std::string_view text) {
  for (auto kind : {domain::launch_kind::provider, domain::launch_kind::patient,
                    domain::launch_kind::device_test})
    if (domain::to_string(kind) == text) return kind;
  return std::nullopt;
}

struct launch_query {
  std::string iss;
  std::string launch;
};

domain::result<launch_query> parse_launch_query(std::string_view query) {
  auto params = query_params::parse_known(query, {"iss", "launch"});
  if (!params) return std::move(params).err();
  return launch_query{params->get("iss").value_or(""), params->get("launch").value_or("")};
}

/// The launch's visit reference: the fhirContext Appointment, and the encounter.
struct launch_context {
  std::optional<domain::fhir_reference> appointment;
  std::optional<domain::fhir_reference> encounter;
};

launch_context context_of(const fhir::token_response& tokens) {
  launch_context out;
  constexpr std::array<std::string_view, 1> appointment_type{"Appointment"};
  for (const auto& item : tokens.fhir_context) {
    if (auto ref = fhir::relative_reference(item.reference, appointment_type)) {
      if (auto id = domain::fhir_reference::parse(*ref)) {
        out.appointment = *id;
        break;
      }
    }
  }
  if (!tokens.encounter.empty())
    if (auto id = domain::fhir_reference::parse("Encounter/" + tokens.encounter))
      out.encounter = *id;
  return out;
}

/// Finds the visit of the launch's reference, or opens it (audited as `by`'s visit.open).
void enter_visit(actors::runtime& runtime, const domain::tenant_id& tenant,
                 const domain::endpoint_id& endpoint, const launch_context& context,
                 const domain::account_id& by,
                 const std::function<void(domain::result<domain::visit_state>)>& done) {
  const auto& reference = context.appointment ? *context.appointment : *context.encounter;
  auto id = visit_id_for(tenant, endpoint, reference);
  runtime.get_visit(id, [&runtime, id, tenant, endpoint, context, by,
                         done](domain::result<domain::visit_state> existing) {
    if (existing) return done(std::move(existing));
    if (existing.err().code != errc::not_found) return done(existing.err());
    // Scheduled for now: the launch is the visit's start as far as visitd knows.
    auto info = domain::make_visit_info(id, tenant, endpoint, context.appointment,
                                        context.encounter, std::nullopt, actors::wall_clock_now());
    if (!info) return done(info.err());
    runtime.open_visit(*info, by, done);
  });
}

response staff_entered(const request& req, const actors::signed_in& session,
                       const domain::visit_state& visit) {
  response res;
  if (wants_json(req)) {
    boost::json::object out{
      {"role", "staff"}, {"account", session.account.str()}, {"visit", visit_json(visit)}};
    res = json_response(200, boost::json::serialize(out));
  } else {
    res = page(200, "Virtual visit",
               "You are signed in to visit " + visit.info.id.str() +
                 ". The visit view opens here; keep this window open.");
  }
  auto lifetime =
    std::chrono::duration_cast<std::chrono::seconds>(session.expires_at - actors::wall_clock_now());
  set_session_cookies(res, session.session_token, session.csrf_token,
                      std::max(lifetime, std::chrono::seconds{1}));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

void finish_provider(actors::runtime& runtime, const smart_services& s,
                     const std::shared_ptr<provider_links>& links, const request& req,
                     const responder& respond, const fhir::pending_authorization& ctx,
                     const domain::ehr_user_id& user, const launch_context& context) {
  runtime.ehr_sign_in(
    ctx.tenant, user,
    [&runtime, s, links, req, respond, ctx, user,
     context](domain::result<actors::signed_in> session) {
      if (!session && session.err().code == errc::not_found) {
        auto token = links->add({ctx.tenant, ctx.endpoint, user, context.appointment,
                                 context.encounter, now_of(s) + std::chrono::minutes{10}},
                                now_of(s));
        if (!token) return respond(failure(req, 429, "rate_limited", token.err().message));
        if (wants_json(req)) {
          boost::json::object out{{"link_required", true},
                                  {"link_token", *token},
                                  {"ehr_user", user.str()},
                                  {"expires_in", 600}};
          auto res = json_response(200, boost::json::serialize(out));
          res.headers.emplace_back("Cache-Control", "no-store");
          return respond(std::move(res));
        }
        return respond(page(200, "Link your visitd account",
                            "This is your first visit from this EHR account (" + user.str() +
                              "). Sign in to visitd once to link it; the link code is " + *token +
                              " (valid 10 minutes)."));
      }
      if (!session)
        return respond(failure(req, status_for(session.err().code),
                               domain::to_string(session.err().code), session.err().message));
      enter_visit(runtime, ctx.tenant, ctx.endpoint, context, session->account,
                  [req, respond, entered = *session](domain::result<domain::visit_state> visit) {
                    if (!visit) return respond(error_response(visit.err()));
                    respond(staff_entered(req, entered, *visit));
                  });
    });
}

void finish_patient(actors::runtime& runtime, const auth::secret_key& join_link_key,
                    const request& req, const responder& respond,
                    const fhir::pending_authorization& ctx, const domain::ehr_user_id& user,
                    const launch_context& context) {
  enter_visit(
    runtime, ctx.tenant, ctx.endpoint, context, ehr_launch_actor(),
    [&runtime, &join_link_key, req, respond, ctx, user](domain::result<domain::visit_state> v) {
      if (!v) return respond(error_response(v.err()));
      if (v->status == domain::visit_status::ended)
        return respond(failure(req, 409, "conflict", "this visit has ended"));
      // The same EHR patient is the same participant on every launch (a second tab, a retry).
      std::string key{ctx.tenant.str()};
      key.push_back('\0');
      key.append(user.str());
      auto participant = *domain::join_id::parse("j-" + auth::token_digest(key).substr(0, 16));
      auto expires =
        std::max(v->info.scheduled_start, actors::wall_clock_now()) + std::chrono::hours{12};
      issue_join_link(
        runtime, join_link_key, *v, domain::participant_role::patient, participant, expires,
        ehr_launch_actor(), user,
        [req, respond, visit = v->info.id](const domain::result<issued_join_link>& link) {
          if (!link) return respond(error_response(link.err()));
          if (wants_json(req)) {
            boost::json::object out{{"role", "patient"},
                                    {"visit_id", visit.str()},
                                    {"url", "/join/" + link->token},
                                    {"token", link->token},
                                    {"expires_at", domain::format_rfc3339(link->expires_at)}};
            auto res = json_response(200, boost::json::serialize(out));
            res.headers.emplace_back("Cache-Control", "no-store");
            return respond(std::move(res));
          }
          respond(page(200, "Your virtual visit",
                       "You are in the waiting room of your visit; your care team will let you "
                       "in."));
        });
    });
}

// -- starting a launch ---------------------------------------------------------------------------

struct launch_target {
  domain::tenant tenant;
  domain::fhir_endpoint endpoint;
  domain::endpoint_revision revision;
  domain::integration_record record;
};

/// Which of the tenant's endpoints `iss` is, to say why a launch at another endpoint's URL is
/// refused (test vs production).
const domain::endpoint_revision* approved_with_base(const std::vector<domain::fhir_endpoint>& all,
                                                    const std::string& base) {
  for (const auto& e : all)
    if (const auto* r = domain::in_force(e); r != nullptr && r->settings.base_url == base) return r;
  return nullptr;
}

void start_launch(actors::runtime& runtime, const smart_services& s, const request& req,
                  const responder& respond) {
  auto kind = parse_kind(req.path_params.at("kind"));
  auto query = parse_launch_query(req.query);
  auto tenant_id = domain::tenant_id::parse(req.path_params.at("tenant_id"));
  auto endpoint_id = domain::endpoint_id::parse(req.path_params.at("endpoint_id"));
  if (!kind) return respond(failure(req, 404, "not_found", "no such launch"));
  if (!query) return respond(failure(req, 400, "invalid_launch", query.err().message));
  if (*kind == domain::launch_kind::provider && (query->iss.empty() || query->launch.empty()))
    return respond(
      failure(req, 400, "invalid_launch", "an EHR launch needs both iss and launch parameters"));
  if (!tenant_id || !endpoint_id)
    return respond(failure(req, 404, "tenant_config_not_found", "tenant configuration not found"));
  request copy;
  copy.headers = req.headers;
  auto binding = binding_for(req);
  if (!binding) return respond(failure(req, 500, "internal", binding.err().message));
  runtime.get_tenant(
    *tenant_id, [&runtime, s, copy, respond, kind = *kind, query = *query,
                 endpoint_id = *endpoint_id, binding = *binding](domain::result<domain::tenant> t) {
      if (!t)
        return respond(
          failure(copy, 404, "tenant_config_not_found", "tenant configuration not found"));
      if (auto active = domain::require_active(*t); !active)
        return respond(failure(copy, 409, "conflict", active.err().message));
      runtime.list_endpoints(
        t->id, [s, copy, respond, kind, query, endpoint_id, binding,
                tenant = *t](domain::result<std::vector<domain::fhir_endpoint>> all) {
          if (!all) return respond(failure(copy, 503, "unavailable", all.err().message));
          const auto* found = domain::find_endpoint(*all, endpoint_id);
          if (found == nullptr)
            return respond(
              failure(copy, 404, "tenant_config_not_found",
                      "tenant configuration not found (no endpoint " + endpoint_id.str() + ")"));
          const auto* revision = domain::in_force(*found);
          if (revision == nullptr)
            return respond(failure(copy, 409, "not_approved",
                                   "endpoint " + endpoint_id.str() +
                                     " has no approved revision: launches wait for its approval"));
          if (!query.iss.empty()) {
            auto iss = domain::normalize_fhir_base_url(query.iss);
            if (!iss)
              return respond(failure(copy, 400, "invalid_launch", "iss: " + iss.err().message));
            if (*iss != revision->settings.base_url) {
              const auto* other = approved_with_base(*all, *iss);
              if (other != nullptr && other->settings.environment != revision->settings.environment)
                return respond(
                  failure(copy, 400, "environment_mismatch",
                          std::string{"this launch came from the tenant's "}
                            .append(domain::to_string(other->settings.environment))
                            .append(" EHR (")
                            .append(*iss)
                            .append(") but this launch URL is the ")
                            .append(domain::to_string(revision->settings.environment))
                            .append(" endpoint's: test and production launches never cross")));
              return respond(
                failure(copy, 400, "unknown_iss",
                        "iss " + *iss + " is not the approved FHIR base URL of this endpoint"));
            }
          }
          auto records =
            domain::make_integration_records(tenant, *found, revision->number, s.public_url());
          if (!records) return respond(failure(copy, 409, "conflict", records.err().message));
          auto record = std::find_if(records->begin(), records->end(),
                                     [kind](const auto& r) { return r.kind == kind; });
          auto scopes = record->scopes;
          // A launch from inside the EHR or the portal (with `launch`) is an EHR launch: its
          // context comes with the `launch` scope (SMART §2.0.5); without one it is a standalone
          // launch.
          if (!query.launch.empty() &&
              std::find(scopes.begin(), scopes.end(), "launch") == scopes.end())
            scopes.insert(scopes.begin(), "launch");
          auto secrets = fhir::make_authorization_secrets();
          if (!secrets) return respond(failure(copy, 503, "unavailable", secrets.err().message));
          sign_in_request request{.purpose = fhir::authorization_purpose::launch,
                                  .launch = kind,
                                  .tenant = tenant.id,
                                  .endpoint = endpoint_id,
                                  .revision = revision->number,
                                  .settings = revision->settings,
                                  .approver = {},
                                  .scopes = std::move(scopes),
                                  .launch_parameter = query.launch,
                                  .secrets = *secrets,
                                  .expires_at = domain::timestamp::max()};
          begin_sign_in(s, std::move(request), binding,
                        [s, copy, respond, binding](domain::result<started_sign_in> started) {
                          if (!started) return respond(ehr_failure(copy, started.err()));
                          response res;
                          res.status = 302;
                          res.content_type = "text/plain";
                          res.headers.emplace_back("Location", started->authorize_url);
                          res.headers.emplace_back("Cache-Control", "no-store");
                          res.headers.emplace_back("Referrer-Policy", "no-referrer");
                          set_binding_cookie(res, binding, s.sign_in_ttl);
                          respond(std::move(res));
                        });
        });
    });
}

}  // namespace

void finish_launch(actors::runtime& runtime, const smart_services& services,
                   const auth::secret_key& join_link_key,
                   const std::shared_ptr<provider_links>& links, const request& req,
                   const responder& respond, const fhir::pending_authorization& ctx,
                   const fhir::signed_in_user& user) {
  auto ehr_user = fhir::ehr_user_from_fhir_user(user.identity.fhir_user);
  if (!ehr_user) return respond(ehr_failure(req, ehr_user.err()));
  if (ctx.launch == domain::launch_kind::device_test) {
    if (wants_json(req)) {
      boost::json::object out{{"device_test", true}, {"ehr_user", ehr_user->str()}};
      return respond(json_response(200, boost::json::serialize(out)));
    }
    return respond(page(200, "Camera and microphone check",
                        "Your EHR sign-in worked; the check of your camera, microphone and "
                        "speaker runs on this page."));
  }
  auto context = context_of(user.tokens);
  if (!context.appointment && !context.encounter)
    return respond(failure(req, 400, "no_visit_context",
                           "the EHR launch names no appointment (fhirContext) and no encounter: "
                           "there is no visit to open"));
  if (ctx.launch == domain::launch_kind::provider)
    return finish_provider(runtime, services, links, req, respond, ctx, *ehr_user, context);
  finish_patient(runtime, join_link_key, req, respond, ctx, *ehr_user, context);
}

void add_launch_routes(router& routes, actors::runtime& runtime, const smart_services& services,
                       const auth::secret_key& /*join_link_key*/,
                       const std::shared_ptr<provider_links>& links) {
  routes.add("GET", "/smart/{tenant_id}/{endpoint_id}/launch/{kind}",
             [&runtime, services](request& req, const responder& respond) {
               start_launch(runtime, services, req, respond);
             });

  routes.add(
    "POST", "/api/v1/ehr-links",
    [&runtime, services, links](request& req, const responder& respond) {
      auto body = std::make_shared<std::variant<json_fields, body_error>>(
        read_json_object(req, {"link_token"}));
      request copy;
      copy.headers = req.headers;
      with_session(
        runtime, req, respond, true,
        [&runtime, services, links, body, copy, respond](const actors::session_info& session,
                                                         const std::string& /*token*/) {
          if (session.token_tenant)
            return respond(error_response(403, "forbidden", "API tokens cannot link EHR users"));
          if (auto* err = std::get_if<body_error>(body.get())) return respond(error_response(*err));
          std::string token;
          if (auto err = std::get<json_fields>(*body).string("link_token", token, 128))
            return respond(error_response(*err));
          auto link = links->take(token, now_of(services));
          if (!link) return respond(error_response(link.err()));
          runtime.link_ehr_user(
            {session.account, link->tenant, link->user, session.account},
            [&runtime, respond, link = *link,
             account = session.account](const domain::result<domain::account>& linked) {
              if (!linked) return respond(error_response(linked.err()));
              enter_visit(runtime, link.tenant, link.endpoint, {link.appointment, link.encounter},
                          account, [respond, link](domain::result<domain::visit_state> visit) {
                            if (!visit) return respond(error_response(visit.err()));
                            boost::json::object out{{"linked", true},
                                                    {"ehr_user", link.user.str()},
                                                    {"visit", visit_json(*visit)}};
                            respond(json_response(200, boost::json::serialize(out)));
                          });
            });
        });
    });
}

}  // namespace visitd::http
