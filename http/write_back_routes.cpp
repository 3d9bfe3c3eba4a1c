#include "http/write_back_routes.hpp"

#include "actors/wall_clock.hpp"
#include "domain/audit.hpp"
#include "domain/record_json.hpp"
#include "domain/time_format.hpp"
#include "http/errors.hpp"
#include "http/query_params.hpp"
#include "http/session_auth.hpp"
#include "http/write_back_policy_body.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace visitd::http {

namespace {

namespace json = boost::json;

json::object support_json(const fhir::resource_support& r) {
  return {{"listed", r.listed},
          {"read", r.read},
          {"create", r.create},
          {"update", r.update},
          {"update_create", r.update_create},
          {"conditional_create", r.conditional_create},
          {"versioning", r.versioning}};
}

json::value optional_time(const std::optional<domain::timestamp>& t) {
  if (!t) return nullptr;
  return json::value(domain::format_rfc3339(*t));
}

json::object status_json(const actors::write_back_status& s) {
  json::object out{{"tenant", s.tenant.str()},
                   {"endpoint", s.endpoint.str()},
                   {"state", s.blocked.empty() ? "delivering" : "blocked"},
                   {"blocked", s.blocked},
                   {"checked_at", optional_time(s.checked_at)},
                   {"check_error", s.check_error},
                   {"pending", s.pending},
                   {"more_in_store", s.more_in_store},
                   {"oldest_pending_at", optional_time(s.oldest_pending_at)},
                   {"in_flight", s.in_flight},
                   {"delivered", s.delivered},
                   {"writes", s.writes},
                   {"retries", s.retries},
                   {"dead_letters", s.dead_letters},
                   {"breaker", s.breaker},
                   {"last_error", s.last_error},
                   {"last_delivered_at", optional_time(s.last_delivered_at)}};
  if (s.support)
    out["ehr_supports"] = json::object{{"fhir_version", s.support->fhir_version},
                                       {"AuditEvent", support_json(s.support->audit_event)},
                                       {"Encounter", support_json(s.support->encounter)},
                                       {"Appointment", support_json(s.support->appointment)}};
  else
    out["ehr_supports"] = nullptr;
  if (s.plan) {
    json::array notes;
    for (const auto& n : s.plan->notes) notes.emplace_back(n);
    out["plan"] = json::object{{"audit_events", fhir::to_string(s.plan->audit_events)},
                               {"writes_audit_events", s.plan->targets.audit_events},
                               {"writes_encounters", s.plan->targets.encounters},
                               {"writes_appointments", s.plan->targets.appointments},
                               {"audit_event_codes", domain::audit_event_codes_json(s.plan->codes)},
                               {"notes", std::move(notes)}};
  } else {
    out["plan"] = nullptr;
  }
  return out;
}

json::object dead_letter_json(const domain::dead_letter& d) {
  return {{"event_key", domain::event_key(d.item)},
          {"visit", d.item.visit.str()},
          {"seq", d.item.seq},
          {"kind", domain::to_string(d.item.kind)},
          {"event_at", domain::format_rfc3339(d.item.at)},
          {"reason", d.reason},
          {"attempts", d.attempts},
          {"dead_lettered_at", domain::format_rfc3339(d.at)}};
}

/// Runs `next` for an admin or the approver of `{tenant_id}` with a valid `{endpoint_id}`.
void with_endpoint(actors::runtime& runtime, request& req, const responder& respond,
                   bool state_changing,
                   std::function<void(const actors::session_info&, const domain::tenant&,
                                      const domain::endpoint_id&)>
                     next) {
  auto endpoint = domain::endpoint_id::parse(req.path_params["endpoint_id"]);
  with_tenant_member(runtime, req, respond, state_changing,
                     [&runtime, respond, endpoint, next = std::move(next)](
                       const actors::session_info& s, const domain::tenant& t) {
                       if (!endpoint)
                         return respond(error_response(404, "not_found", "no such endpoint"));
                       // Only endpoints the tenant has: an unknown id must not spawn an actor.
                       runtime.list_endpoints(
                         t.id, [respond, s, t, id = *endpoint,
                                next](domain::result<std::vector<domain::fhir_endpoint>> all) {
                           if (!all) return respond(error_response(all.err()));
                           if (domain::find_endpoint(*all, id) == nullptr)
                             return respond(error_response(404, "not_found", "no such endpoint"));
                           next(s, t, id);
                         });
                     });
}

bool loopback(std::string_view address) {
  return address == "127.0.0.1" || address == "::1" || address.starts_with("127.") ||
         address == "::ffff:127.0.0.1";
}

/// One Prometheus sample line.
void sample(std::string& out, std::string_view name, const actors::write_back_status& s,
            double value) {
  out.append(name).append("{tenant=\"").append(s.tenant.str());
  out.append("\",endpoint=\"").append(s.endpoint.str()).append("\"} ");
  auto text = json::serialize(json::value(value));
  out.append(text).push_back('\n');
}

std::string metrics_text(const std::vector<actors::write_back_status>& all) {
  struct metric {
    std::string_view name, type, help;
    double (*value)(const actors::write_back_status&);
  };
  static const metric metrics[] = {
    {"visitd_write_back_pending", "gauge", "Outbox items held for delivery.",
     [](const actors::write_back_status& s) { return static_cast<double>(s.pending); }},
    {"visitd_write_back_oldest_pending_age_seconds", "gauge",
     "Age of the oldest held item's event (0 when none).",
     [](const actors::write_back_status& s) {
       if (!s.oldest_pending_at) return 0.0;
       auto age = actors::wall_clock_now() - *s.oldest_pending_at;
       return std::chrono::duration<double>(age).count();
     }},
    {"visitd_write_back_delivered_total", "counter", "Items delivered since start.",
     [](const actors::write_back_status& s) { return static_cast<double>(s.delivered); }},
    {"visitd_write_back_writes_total", "counter", "FHIR writes made since start.",
     [](const actors::write_back_status& s) { return static_cast<double>(s.writes); }},
    {"visitd_write_back_retries_total", "counter", "Failed attempts retried since start.",
     [](const actors::write_back_status& s) { return static_cast<double>(s.retries); }},
    {"visitd_write_back_dead_letters", "gauge", "Dead letters stored.",
     [](const actors::write_back_status& s) { return static_cast<double>(s.dead_letters); }},
    {"visitd_write_back_blocked", "gauge", "1 when the endpoint cannot deliver (see the portal).",
     [](const actors::write_back_status& s) { return s.blocked.empty() ? 0.0 : 1.0; }},
    {"visitd_write_back_breaker_open", "gauge", "1 while the circuit breaker is open.",
     [](const actors::write_back_status& s) { return s.breaker == "open" ? 1.0 : 0.0; }},
  };
  std::string out;
  for (const auto& m : metrics) {
    out.append("# HELP ").append(m.name).append(" ").append(m.help).push_back('\n');
    out.append("# TYPE ").append(m.name).append(" ").append(m.type).push_back('\n');
    for (const auto& s : all) sample(out, m.name, s, m.value(s));
  }
  return out;
}

void answer_metrics(actors::runtime& runtime, const responder& respond) {
  runtime.write_back_statuses(
    [respond](const domain::result<std::vector<actors::write_back_status>>& all) {
      if (!all) return respond(error_response(all.err()));
      response res;
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = metrics_text(*all);
      respond(std::move(res));
    });
}

}  // namespace

void add_write_back_routes(router& routes, actors::runtime& runtime) {
  const std::string policy = "/api/v1/tenants/{tenant_id}/write-back-policy";
  routes.add("GET", policy, [&runtime](request& req, const responder& respond) {
    with_tenant_member(
      runtime, req, respond, false,
      [respond](const actors::session_info&, const domain::tenant& t) {
        respond(json_response(200, json::serialize(domain::write_back_policy_json(t.write_back))));
      });
  });
  routes.add("PUT", policy, [&runtime](request& req, const responder& respond) {
    // Read before any asynchronous step: `req` lives only until this handler returns.
    auto body = std::make_shared<std::variant<domain::write_back_policy, body_error>>(
      read_write_back_policy(req));
    with_tenant_member(
      runtime, req, respond, true,
      [&runtime, respond, body](const actors::session_info& s, const domain::tenant& t) {
        if (const auto* err = std::get_if<body_error>(body.get()))
          return respond(error_response(*err));
        // The domain checks the caller is an admin and every coding is valid.
        runtime.change_tenant(
          t.id,
          actors::tenant_change::set_write_back{
            s.account, std::get<domain::write_back_policy>(std::move(*body))},
          [respond](const domain::result<domain::tenant>& after) {
            if (!after) return respond(error_response(after.err()));
            respond(json_response(
              200, json::serialize(domain::write_back_policy_json(after->write_back))));
          });
      });
  });

  const std::string base = "/api/v1/tenants/{tenant_id}/endpoints/{endpoint_id}/write-back";

  routes.add("GET", base, [&runtime](request& req, const responder& respond) {
    with_endpoint(runtime, req, respond, false,
                  [&runtime, respond](const actors::session_info&, const domain::tenant& t,
                                      const domain::endpoint_id& e) {
                    runtime.write_back_status(
                      t.id, e, [respond](const domain::result<actors::write_back_status>& s) {
                        if (!s) return respond(error_response(s.err()));
                        respond(json_response(200, json::serialize(status_json(*s))));
                      });
                  });
  });

  routes.add("GET", base + "/dead-letters", [&runtime](request& req, const responder& respond) {
    auto params = query_params::parse(req.query, {"limit"});
    std::uint64_t limit = 100;
    if (!params) return respond(error_response(params.err()));
    if (auto text = params->get("limit")) {
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
      if (ec != std::errc{} || end != text->data() + text->size() || limit == 0 || limit > 10000)
        return respond(
          error_response(400, "invalid_query", "limit: must be an integer from 1 to 10000"));
    }
    with_endpoint(runtime, req, respond, false,
                  [&runtime, respond, limit](const actors::session_info&, const domain::tenant& t,
                                             const domain::endpoint_id& e) {
                    runtime.dead_letters(
                      t.id, e, limit,
                      [respond](const domain::result<std::vector<domain::dead_letter>>& letters) {
                        if (!letters) return respond(error_response(letters.err()));
                        json::array items;
                        for (const auto& d : *letters) items.emplace_back(dead_letter_json(d));
                        respond(json_response(
                          200, json::serialize(json::object{{"dead_letters", std::move(items)}})));
                      });
                  });
  });

  routes.add(
    "POST", base + "/dead-letters/redrive", [&runtime](request& req, const responder& respond) {
      with_endpoint(runtime, req, respond, true,
                    [&runtime, respond](const actors::session_info& s, const domain::tenant& t,
                                        const domain::endpoint_id& e) {
                      runtime.redrive_dead_letters(
                        t.id, e,
                        [&runtime, respond, by = s.account, tenant = t.id,
                         endpoint = e](const domain::result<std::uint64_t>& n) {
                          if (!n) return respond(error_response(n.err()));
                          json::object after{{"endpoint", endpoint.str()}, {"redriven", *n}};
                          auto audit = domain::make_audit_entry(
                            tenant, by, "write_back.redrive", endpoint.str(),
                            actors::wall_clock_now(), "", domain::json_text(after));
                          if (!audit) return respond(error_response(audit.err()));
                          runtime.record_audit(
                            std::move(*audit), [respond, after](const domain::result<void>& ok) {
                              if (!ok) return respond(error_response(ok.err()));
                              respond(json_response(200, domain::json_text(after)));
                            });
                        });
                    });
    });

  routes.add("GET", "/metrics", [&runtime](request& req, const responder& respond) {
    // A scraper on the box itself needs no account; from elsewhere, an operator's session.
    if (loopback(req.remote_address)) return answer_metrics(runtime, respond);
    with_session(
      runtime, req, respond, false,
      [&runtime, respond](const actors::session_info& s, const std::string&) {
        if (!s.is_operator)
          return respond(error_response(403, "forbidden", "only operators read metrics"));
        answer_metrics(runtime, respond);
      });
  });
}

}  // namespace visitd::http
