#include "domain/record_json.hpp"

#include "domain/time_format.hpp"

#include <boost/json.hpp>

namespace visitd::domain {

boost::json::object tenant_json(const tenant& t) {
  boost::json::array admins;
  for (const auto& a : t.admins) admins.emplace_back(a.str());
  return {
    {"id", t.id.str()},
    {"display_name", t.display_name},
    {"region", t.region},
    {"status", to_string(t.status)},
    {"admins", std::move(admins)},
    {"approver", t.approver.str()},
    {"ehr", to_string(t.ehr)},
    {"write_back", write_back_policy_json(t.write_back)},
  };
}

namespace {

boost::json::object coding_json(const coding& c) {
  return {{"system", c.system}, {"code", c.code}, {"display", c.display}};
}

}  // namespace

boost::json::object audit_event_codes_json(const audit_event_codes& codes) {
  return {{"type", coding_json(codes.type)},
          {"connected", coding_json(codes.connected)},
          {"disconnected", coding_json(codes.disconnected)},
          {"device_test", coding_json(codes.device_test)}};
}

boost::json::object write_back_policy_json(const write_back_policy& policy) {
  const auto& w = policy.writes;
  return {
    {"writes",
     {{"audit_events", w.audit_events},
      {"encounters", w.encounters},
      {"appointments", w.appointments}}},
    {"audit_event_codes", audit_event_codes_json(policy.codes)},
  };
}

boost::json::object endpoint_json(const fhir_endpoint& e) {
  boost::json::array revisions;
  for (const auto& r : e.revisions) {
    boost::json::object rev{
      {"number", r.number.value()},        {"state", to_string(r.state)},
      {"base_url", r.settings.base_url},   {"environment", to_string(r.settings.environment)},
      {"client_id", r.settings.client_id}, {"client_type", to_string(r.settings.type)},
      {"created_by", r.created_by.str()},  {"created_at", format_rfc3339(r.created_at)},
    };
    if (r.validated_by) rev["validated_by"] = r.validated_by->str();
    // The EHR user id (a reference such as Practitioner/123), never a name.
    if (r.validated_as) rev["validated_as"] = r.validated_as->str();
    if (r.validated_at) rev["validated_at"] = format_rfc3339(*r.validated_at);
    if (r.decided_by) rev["decided_by"] = r.decided_by->str();
    if (r.decided_at) rev["decided_at"] = format_rfc3339(*r.decided_at);
    revisions.emplace_back(std::move(rev));
  }
  boost::json::object out{{"id", e.id.str()}, {"tenant", e.tenant.str()}};
  if (const auto* r = in_force(e)) out["in_force"] = r->number.value();
  out["revisions"] = std::move(revisions);
  return out;
}

boost::json::object account_json(const account& a) {
  return {{"id", a.id.str()}, {"login", a.login}, {"operator", a.is_operator}};
}

boost::json::object ehr_link_json(const account_id& account, const ehr_link& link) {
  return {{"account", account.str()}, {"tenant", link.tenant.str()}, {"ehr_user", link.user.str()}};
}

boost::json::object api_token_json(const api_token& t) {
  return {{"id", t.id},
          {"tenant", t.tenant.str()},
          {"owner", t.owner.str()},
          {"label", t.label},
          {"created_at", format_rfc3339(t.created_at)}};
}

boost::json::object visit_info_json(const visit_info& info) {
  boost::json::object out{{"id", info.id.str()},
                          {"tenant", info.tenant.str()},
                          {"endpoint", info.endpoint.str()},
                          {"scheduled_start", format_rfc3339(info.scheduled_start)}};
  if (info.appointment) out["appointment"] = info.appointment->str();
  if (info.encounter) out["encounter"] = info.encounter->str();
  if (info.department) out["department"] = info.department->str();
  return out;
}

std::string json_text(const boost::json::object& view) {
  return boost::json::serialize(view);
}

}  // namespace visitd::domain
