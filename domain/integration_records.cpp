#include "domain/integration_records.hpp"

namespace visitd::domain {

namespace {

// Epic app records are configured with SMART v1 scope syntax (`.read`), the syntax every Epic
// version accepts; Oracle Health and generic SMART 2.x servers get v2 syntax (`.rs`).
bool uses_v1_scopes(ehr_kind kind) {
  return kind == ehr_kind::epic;
}

std::vector<std::string> scopes_for(launch_kind kind, ehr_kind ehr) {
  const std::string read = uses_v1_scopes(ehr) ? ".read" : ".rs";
  switch (kind) {
    case launch_kind::provider:
      return {"launch",
              "openid",
              "fhirUser",
              "user/Patient" + read,
              "user/Encounter" + read,
              "user/Appointment" + read,
              "user/Practitioner" + read};
    case launch_kind::patient:
      return {"launch/patient",
              "openid",
              "fhirUser",
              "patient/Patient" + read,
              "patient/Appointment" + read,
              "patient/Encounter" + read};
    case launch_kind::device_test:
      // The device check reads no FHIR data: identity only.
      return {"launch/patient", "openid", "fhirUser"};
  }
  return {};
}

std::vector<ehr_parameter> parameters_for(launch_kind kind, ehr_kind ehr, client_type type) {
  const bool clinician = kind == launch_kind::provider;
  const std::string auth = type == client_type::public_client ? "none" : "private_key_jwt";
  switch (ehr) {
    case ehr_kind::epic:
      return {{"audience", clinician ? "clinicians" : "patients"},
              {"launch_type", clinician ? "ehr_embedded" : "mychart"},
              {"fhir_version", "R4"},
              {"scope_syntax", "smart_v1"},
              {"token_endpoint_auth", auth}};
    case ehr_kind::oracle_health:
      return {{"application_type", clinician ? "provider" : "patient"},
              {"intended_users", clinician ? "clinicians" : "patients"},
              {"launch_context", clinician ? "encounter" : "patient"},
              {"fhir_version", "R4"},
              {"scope_syntax", "smart_v2"},
              {"token_endpoint_auth", auth}};
    case ehr_kind::generic_smart:
      return {{"smart_version", "2.0"},
              {"fhir_version", "R4"},
              {"pkce", "S256"},
              {"launch_context", clinician ? "encounter" : "patient"},
              {"token_endpoint_auth", auth}};
  }
  return {};
}

}  // namespace

std::string integration_record::scope_string() const {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

result<std::vector<integration_record>> make_integration_records(const tenant& t,
                                                                 const fhir_endpoint& endpoint,
                                                                 revision_number number,
                                                                 std::string_view public_base_url,
                                                                 bool allow_http) {
  if (endpoint.tenant != t.id)
    return make_error(errc::invalid_argument, "endpoint '" + endpoint.id.str() +
                                                "' does not belong to tenant '" + t.id.str() + "'");
  if (auto active = require_active(t); !active) return std::move(active).err();
  auto base = normalize_base_url(public_base_url, "public_base_url", allow_http);
  if (!base) return std::move(base).err();
  const endpoint_revision* rev = find_revision(endpoint, number);
  if (!rev)
    return make_error(errc::not_found, "endpoint '" + endpoint.id.str() + "' has no revision " +
                                         std::to_string(number.value()));
  if (rev->state != revision_state::approved)
    return make_error(errc::conflict, "revision " + std::to_string(number.value()) + " is " +
                                        std::string{to_string(rev->state)} +
                                        "; integration records exist only for the approved "
                                        "revision");
  const std::string prefix = *base + "/smart/" + t.id.str() + "/" + endpoint.id.str();
  std::vector<integration_record> records;
  for (const auto kind : {launch_kind::provider, launch_kind::patient, launch_kind::device_test}) {
    integration_record r;
    r.kind = kind;
    r.revision = number;
    r.environment = rev->settings.environment;
    r.fhir_base_url = rev->settings.base_url;
    r.launch_url = prefix + "/launch/" + std::string{to_string(kind)};
    r.redirect_uri = prefix + "/callback";
    r.client_id = rev->settings.client_id;
    r.jwks_url = *base + "/smart/" + t.id.str() + "/jwks.json";
    r.scopes = scopes_for(kind, t.ehr);
    r.ehr_parameters = parameters_for(kind, t.ehr, rev->settings.type);
    records.push_back(std::move(r));
  }
  return records;
}

std::string_view to_string(launch_kind kind) noexcept {
  switch (kind) {
    case launch_kind::provider: return "provider";
    case launch_kind::patient: return "patient";
    case launch_kind::device_test: return "device-test";
  }
  return "unknown";
}

}  // namespace visitd::domain
