#include "http/visit_routes.hpp"

#include "actors/wall_clock.hpp"
#include "auth/join_links.hpp"
#include "auth/tokens.hpp"
#include "domain/audit.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/json_body.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"
#include "http/visit_json.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <memory>

namespace visitd::http {

// The digest of the three, so creating is idempotent without an index and the id tells nothing.
domain::visit_id visit_id_for(const domain::tenant_id& tenant, const domain::endpoint_id& endpoint,
                              const domain::fhir_reference& reference) {
  std::string key{tenant.str()};
  key.push_back('\0');
  key.append(endpoint.str()).push_back('\0');
  key.append(reference.str());
  return *domain::visit_id::parse("v-" + auth::token_digest(key).substr(0, 32));
}

void issue_join_link(actors::runtime& runtime, const auth::secret_key& join_link_key,
                     const domain::visit_state& v, domain::participant_role role,
                     const domain::join_id& participant, domain::timestamp expires_at,
                     const domain::account_id& by,
                     const std::optional<domain::ehr_user_id>& ehr_user,
                     const std::function<void(domain::result<issued_join_link>)>& done) {
  auto grant = domain::make_join_grant(v.info.id, role, participant, expires_at);
  if (!grant) return done(grant.err());
  auto token = auth::seal_join_link(join_link_key, *grant);
  // Audited before the link is handed out (never the token itself: it is the credential): who
  // issued which visit's link, for which role, valid until when.
  boost::json::object after{{"visit", v.info.id.str()},
                            {"role", domain::to_string(role)},
                            {"participant", "p-" + participant.str()}};
  if (ehr_user) after["ehr_user"] = ehr_user->str();
  after["expires_at"] = domain::format_rfc3339(expires_at);
  auto audit =
    domain::make_audit_entry(v.info.tenant, by, "visit.join_link", v.info.id.str(),
                             actors::wall_clock_now(), "", boost::json::serialize(after));
  if (!audit) return done(audit.err());
  runtime.record_audit(std::move(*audit),
                       [done, link = issued_join_link{std::move(token), expires_at}](
                         const domain::result<void>& recorded) {
                         if (!recorded) return done(recorded.err());
                         done(link);
                       });
}

namespace {

using body = std::shared_ptr<std::variant<json_fields, body_error>>;

template <class Id>
std::optional<body_error> optional_id(const json_fields& f, std::string_view field,
                                      std::optional<Id>& out) {
  std::optional<std::string> text;
  if (auto err = f.optional_string(field, text, 256)) return err;
  if (!text) return std::nullopt;
  auto parsed = Id::parse(*text);
  if (!parsed)
    return body_error{400, "invalid_field", std::string{field} + ": " + parsed.err().message};
  out = std::move(*parsed);
  return std::nullopt;
}

/// Runs `next` with the visit `id` (open, or ended and read from the store) when it belongs to
/// `tenant`; 404 otherwise. (`id` is parsed before any asynchronous step: a request does not
/// outlive its handler's synchronous part.)
void with_visit(actors::runtime& runtime, const domain::result<domain::visit_id>& id,
                const responder& respond, const domain::tenant& tenant,
                std::function<void(const domain::visit_state&)> next) {
  auto missing = [] { return error_response(404, "not_found", "no such visit"); };
  if (!id) return respond(missing());
  runtime.read_visit(*id, [respond, tenant_id = tenant.id, missing,
                           next = std::move(next)](domain::result<domain::visit_state> v) {
    if (!v) {
      if (v.err().code == domain::errc::not_found) return respond(missing());
      return respond(error_response(v.err()));
    }
    if (v->info.tenant != tenant_id) return respond(missing());
    next(*v);
  });
}

/// The filters of a visit listing: `day` (YYYY-MM-DD, UTC, of the scheduled start), `state`
/// and `department`, each optional.
struct visit_filter {
  std::optional<domain::timestamp> day_start;
  std::optional<domain::visit_status> status;
  std::optional<domain::department_id> department;

  [[nodiscard]] bool matches(const actors::visit_summary& v) const {
    if (status && v.status != *status) return false;
    if (day_start &&
        (v.scheduled_start < *day_start || v.scheduled_start >= *day_start + std::chrono::days{1}))
      return false;
    return true;  // the department is filtered by the board itself
  }
};

domain::result<visit_filter> parse_visit_filter(std::string_view query) {
  auto bad = [](std::string message) {
    return domain::make_error(domain::errc::invalid_argument, std::move(message));
  };
  auto params = query_params::parse(query, {"day", "state", "department"});
  if (!params) return std::move(params).err();
  visit_filter f;
  if (auto day = params->get("day")) {
    if (day->size() != 10) return bad("day: must be YYYY-MM-DD");
    auto start = domain::parse_rfc3339(*day + "T00:00:00Z", "day");
    if (!start) return bad("day: must be YYYY-MM-DD");
    f.day_start = *start;
  }
  if (auto state = params->get("state")) {
    for (auto s : {domain::visit_status::scheduled, domain::visit_status::open,
                   domain::visit_status::in_progress, domain::visit_status::ended})
      if (status_name(s) == *state) f.status = s;
    if (!f.status) return bad("state: must be scheduled, open, in_progress or ended");
  }
  if (auto department = params->get("department")) {
    auto id = domain::department_id::parse(*department);
    if (!id) return bad("department: " + id.err().message);
    f.department = std::move(*id);
  }
  return f;
}

}  // namespace

void add_visit_routes(router& routes, actors::runtime& runtime,
                      const auth::secret_key& join_link_key) {
  const std::string base = "/api/v1/tenants/{tenant_id}/visits";

  routes.add("POST", base, [&runtime](request& req, const responder& respond) {
    body b = std::make_shared<std::variant<json_fields, body_error>>(read_json_object(
      req, {"endpoint", "appointment", "encounter", "department", "scheduled_start"}));
    with_tenant_member(
      runtime, req, respond, true,
      [&runtime, respond, b](const actors::session_info& s, const domain::tenant& t) {
        if (!t.is_admin(s.account))
          return respond(error_response(403, "forbidden", "only the tenant's admins open visits"));
        if (auto active = domain::require_active(t); !active)
          return respond(error_response(active.err()));
        if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
        const auto& f = std::get<json_fields>(*b);
        std::string endpoint_text, start_text;
        std::optional<domain::fhir_reference> appointment, encounter;
        std::optional<domain::department_id> department;
        for (auto err :
             {f.string("endpoint", endpoint_text, 64), f.string("scheduled_start", start_text, 64),
              optional_id(f, "appointment", appointment), optional_id(f, "encounter", encounter),
              optional_id(f, "department", department)})
          if (err) return respond(error_response(*err));
        auto endpoint = domain::endpoint_id::parse(endpoint_text);
        if (!endpoint)
          return respond(
            error_response(400, "invalid_field", "endpoint: " + endpoint.err().message));
        auto start = domain::parse_rfc3339(start_text, "scheduled_start");
        if (!start) return respond(error_response(start.err()));
        if (!appointment && !encounter)
          return respond(error_response(400, "invalid_field",
                                        "appointment: an appointment or an encounter is required"));
        auto id = visit_id_for(t.id, *endpoint, appointment ? *appointment : *encounter);
        auto info =
          domain::make_visit_info(id, t.id, *endpoint, appointment, encounter, department, *start);
        if (!info) return respond(error_response(info.err()));
        // The endpoint must exist with an approved revision: visits run against approved URLs.
        runtime.list_endpoints(t.id, [&runtime, respond, info = *info, by = s.account](
                                       domain::result<std::vector<domain::fhir_endpoint>> all) {
          if (!all) return respond(error_response(all.err()));
          const auto* e = domain::find_endpoint(*all, info.endpoint);
          if (e == nullptr)
            return respond(error_response(400, "invalid_field", "endpoint: no such endpoint"));
          if (domain::in_force(*e) == nullptr)
            return respond(error_response(
              409, "conflict", "endpoint " + info.endpoint.str() + " has no approved revision"));
          runtime.get_visit(
            info.id, [&runtime, respond, info, by](domain::result<domain::visit_state> existing) {
              if (existing)
                return respond(json_response(200, boost::json::serialize(visit_json(*existing))));
              runtime.open_visit(info, by, [respond](domain::result<domain::visit_state> opened) {
                if (!opened) return respond(error_response(opened.err()));
                respond(json_response(201, boost::json::serialize(visit_json(*opened))));
              });
            });
        });
      });
  });

  routes.add("GET", base, [&runtime](request& req, const responder& respond) {
    auto filter = parse_visit_filter(req.query);
    with_tenant_staff(
      runtime, req, respond, false,
      [&runtime, filter, respond](const actors::session_info&, const domain::tenant& t) {
        if (!filter) return respond(error_response(filter.err()));
        runtime.list_board(
          t.id, filter->department,
          [respond, f = *filter](domain::result<std::vector<actors::visit_summary>> visits) {
            if (!visits) return respond(error_response(visits.err()));
            boost::json::array items;
            for (const auto& v : *visits)
              if (f.matches(v)) items.emplace_back(summary_json(v));
            respond(json_response(
              200, boost::json::serialize(boost::json::object{{"visits", std::move(items)}})));
          });
      });
  });

  routes.add("GET", base + "/{visit_id}", [&runtime](request& req, const responder& respond) {
    auto id = domain::visit_id::parse(req.path_params["visit_id"]);
    with_tenant_staff(
      runtime, req, respond, false,
      [&runtime, id, respond](const actors::session_info&, const domain::tenant& t) {
        with_visit(runtime, id, respond, t, [respond](const domain::visit_state& v) {
          respond(json_response(200, boost::json::serialize(visit_json(v))));
        });
      });
  });

  routes.add(
    "POST", base + "/{visit_id}/join-links",
    [&runtime, &join_link_key](request& req, const responder& respond) {
      body b =
        std::make_shared<std::variant<json_fields, body_error>>(read_json_object(req, {"role"}));
      auto id = domain::visit_id::parse(req.path_params["visit_id"]);
      with_tenant_member(
        runtime, req, respond, true,
        [&runtime, id, &join_link_key, respond, b](const actors::session_info& s,
                                                   const domain::tenant& t) {
          if (!t.is_admin(s.account))
            return respond(
              error_response(403, "forbidden", "only the tenant's admins issue join links"));
          if (auto active = domain::require_active(t); !active)
            return respond(error_response(active.err()));
          if (auto* err = std::get_if<body_error>(b.get())) return respond(error_response(*err));
          const auto& f = std::get<json_fields>(*b);
          std::string role_text;
          if (auto err = f.string("role", role_text, 16)) return respond(error_response(*err));
          domain::participant_role role{};
          if (role_text == "patient")
            role = domain::participant_role::patient;
          else if (role_text == "guest")
            role = domain::participant_role::guest;
          else
            return respond(error_response(400, "invalid_field", "role: must be patient or guest"));

          with_visit(
            runtime, id, respond, t,
            [&runtime, respond, &join_link_key, role,
             by = s.account](const domain::visit_state& v) {
              if (v.status == domain::visit_status::ended)
                return respond(error_response(409, "conflict", "the visit has ended"));
              // Valid until the visit could still be running: start + its max length.
              auto expires = v.info.scheduled_start + std::chrono::hours{12};
              auto participant = *domain::join_id::parse("j-" + auth::random_token().substr(0, 16));
              issue_join_link(
                runtime, join_link_key, v, role, participant, expires, by, std::nullopt,
                [respond](const domain::result<issued_join_link>& link) {
                  if (!link) return respond(error_response(link.err()));
                  boost::json::object out{{"url", "/join/" + link->token},
                                          {"token", link->token},
                                          {"expires_at", domain::format_rfc3339(link->expires_at)}};
                  respond(json_response(201, boost::json::serialize(out)));
                });
            });
        });
    });
}

}  // namespace visitd::http
