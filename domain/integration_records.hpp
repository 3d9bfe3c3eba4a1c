#pragma once

// Integration records: what an EHR analyst copies into the EHR so that it can launch visitd.
// Generated from an approved endpoint revision and the box's public base URL. Routes (served by
// http/):
//   launch URL    {public}/smart/{tenant}/{endpoint}/launch/{provider|patient|device-test}
//   redirect URI  {public}/smart/{tenant}/{endpoint}/callback
//   JWKS          {public}/smart/{tenant}/jwks.json  (the tenant's keys; write-back uses them too)

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/tenant.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

/// Which launch a record configures.
enum class launch_kind : std::uint8_t {
  provider,     ///< From the clinician's EHR session into the visit.
  patient,      ///< From the patient portal into the visit's lobby.
  device_test,  ///< From the patient portal into the camera/microphone check.
};

/// One EHR-specific setting, as a name and value the analyst enters in the EHR's app record.
struct ehr_parameter {
  std::string name;
  std::string value;
  friend bool operator==(const ehr_parameter&, const ehr_parameter&) = default;
};

/// Everything the EHR needs for one launch.
struct integration_record {
  launch_kind kind{};
  revision_number revision;
  fhir_environment environment{};
  std::string fhir_base_url;
  std::string launch_url;
  std::string redirect_uri;
  std::string client_id;
  std::string jwks_url;
  std::vector<std::string> scopes;
  std::vector<ehr_parameter> ehr_parameters;  ///< Differ per EHR kind.

  /// The scopes as one space-separated string (the OAuth `scope` parameter).
  [[nodiscard]] std::string scope_string() const;

  friend bool operator==(const integration_record&, const integration_record&) = default;
};

/// The provider, patient and device-test records (in that order) for revision `number` of
/// `endpoint`. Errors: `invalid_argument` for a bad `public_base_url` (https required unless
/// `allow_http`) or an endpoint of another tenant; `not_found` for an unknown revision;
/// `conflict` when the revision is not approved (records are only for what may launch) or the
/// tenant is suspended.
[[nodiscard]] result<std::vector<integration_record>> make_integration_records(
  const tenant& t, const fhir_endpoint& endpoint, revision_number number,
  std::string_view public_base_url, bool allow_http = false);

[[nodiscard]] std::string_view to_string(launch_kind kind) noexcept;

}  // namespace visitd::domain
