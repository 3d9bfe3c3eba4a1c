#pragma once

// A tenant's FHIR endpoint and its approval state machine. Every change of URL or settings is a
// new revision, and a revision is used for launches only once approved:
//
//   draft --submit--> awaiting_validation --record_validation--> validated --approve--> approved
//                     awaiting_validation / validated --reject--> rejected
//   approved --revoke--> revoked;  approved --(a newer revision approved)--> superseded
//   awaiting_validation / validated --(a newer revision proposed)--> superseded
//
// Only the tenant's named approver validates and approves, and approval needs a successful
// validation of that exact revision by that same approver. For `oracle_health` tenants there is
// no validation step: an admin approves a submitted revision directly. The previously approved
// revision stays in force until a newer one is approved.
//
// Transitions take the current endpoint and return the next one (or an error and no change).

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/tenant.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

enum class fhir_environment : std::uint8_t { test, production };

enum class client_type : std::uint8_t {
  public_client,                 ///< Browser-side client, PKCE only.
  confidential_private_key_jwt,  ///< Authenticates with a JWT signed by the box's key (JWKS).
};

inline constexpr std::size_t max_base_url_bytes = 2048;
inline constexpr std::size_t max_client_id_bytes = 256;

/// Normalizes an absolute http(s) base URL as described for `normalize_fhir_base_url`; error
/// messages name `field`. Also used for the box's own public base URL.
[[nodiscard]] result<std::string> normalize_base_url(std::string_view url, std::string_view field,
                                                     bool allow_http = false);

/// Normalizes a FHIR base URL: lowercase scheme and host, default port dropped, dot segments
/// resolved, trailing slashes removed. `invalid_argument` (mentioning `base_url`) when it is not
/// an absolute URL with a host, has user info, a query or a fragment, is longer than
/// `max_base_url_bytes`, or is not https (http is accepted only with `allow_http`, for tests).
[[nodiscard]] result<std::string> normalize_fhir_base_url(std::string_view url,
                                                          bool allow_http = false);

/// What a revision pins down. Any difference makes a new revision.
struct endpoint_settings {
  std::string base_url;  ///< Normalized (see `normalize_fhir_base_url`).
  fhir_environment environment = fhir_environment::test;
  std::string client_id;  ///< As registered in the EHR: 1..256 visible ASCII characters.
  client_type type = client_type::public_client;
  friend bool operator==(const endpoint_settings&, const endpoint_settings&) = default;
};

/// Validates and normalizes endpoint settings (`invalid_argument` naming the field).
[[nodiscard]] result<endpoint_settings> make_endpoint_settings(std::string_view base_url,
                                                               fhir_environment environment,
                                                               std::string_view client_id,
                                                               client_type type,
                                                               bool allow_http = false);

enum class revision_state : std::uint8_t {
  draft,
  awaiting_validation,
  validated,
  approved,
  rejected,
  revoked,
  superseded,
};

/// One revision of an endpoint.
struct endpoint_revision {
  revision_number number;
  endpoint_settings settings;
  revision_state state = revision_state::draft;
  account_id created_by;
  timestamp created_at{};
  std::optional<account_id> validated_by;   ///< The approver's portal account.
  std::optional<ehr_user_id> validated_as;  ///< The EHR user that signed in to validate.
  std::optional<timestamp> validated_at;
  std::optional<account_id> decided_by;  ///< Who approved, rejected or revoked it.
  std::optional<timestamp> decided_at;
  friend bool operator==(const endpoint_revision&, const endpoint_revision&) = default;
};

/// An endpoint with all its revisions, oldest first (numbers 1, 2, 3, ...).
struct fhir_endpoint {
  endpoint_id id;
  tenant_id tenant;
  std::vector<endpoint_revision> revisions;
  friend bool operator==(const fhir_endpoint&, const fhir_endpoint&) = default;
};

/// The approved revision (the one used for launches), or nullptr.
[[nodiscard]] const endpoint_revision* in_force(const fhir_endpoint& endpoint) noexcept;

/// The newest revision, or nullptr for an endpoint without revisions.
[[nodiscard]] const endpoint_revision* latest(const fhir_endpoint& endpoint) noexcept;

/// The endpoint `id` among `endpoints`, or nullptr.
[[nodiscard]] const fhir_endpoint* find_endpoint(const std::vector<fhir_endpoint>& endpoints,
                                                 const endpoint_id& id) noexcept;

/// Revision `number`, or nullptr.
[[nodiscard]] const endpoint_revision* find_revision(const fhir_endpoint& endpoint,
                                                     revision_number number) noexcept;

// -- transitions -------------------------------------------------------------------------------
// Common errors: `invalid_argument` when the endpoint belongs to another tenant; `forbidden` when
// `actor` may not act; `conflict` when the tenant is suspended or the revision is in the wrong
// state; `not_found` for an unknown revision number.

/// An admin registers a new endpoint: revision 1, in draft.
[[nodiscard]] result<fhir_endpoint> create_endpoint(const tenant& t, const account_id& actor,
                                                    endpoint_id id, endpoint_settings settings,
                                                    timestamp now);

/// An admin changes the settings. A draft is edited in place; otherwise a new draft revision is
/// added, pending (submitted or validated) older revisions are superseded, and the approved one
/// stays in force. `conflict` when nothing changed.
[[nodiscard]] result<fhir_endpoint> propose_change(const fhir_endpoint& endpoint, const tenant& t,
                                                   const account_id& actor,
                                                   endpoint_settings settings, timestamp now);

/// An admin submits the draft revision `number` for validation (for `oracle_health`: for
/// approval).
[[nodiscard]] result<fhir_endpoint> submit(const fhir_endpoint& endpoint, const tenant& t,
                                           const account_id& actor, revision_number number,
                                           timestamp now);

/// The approver signed in to the EHR at revision `number`'s URL and got a token for `ehr_user`.
/// `conflict` for `oracle_health` tenants (no validation step).
[[nodiscard]] result<fhir_endpoint> record_validation(const fhir_endpoint& endpoint,
                                                      const tenant& t, const account_id& actor,
                                                      revision_number number, ehr_user_id ehr_user,
                                                      timestamp now);

/// Approves revision `number`: by the approver after their own validation of it, or (for
/// `oracle_health`) by an admin once submitted. The previously approved revision is superseded.
[[nodiscard]] result<fhir_endpoint> approve(const fhir_endpoint& endpoint, const tenant& t,
                                            const account_id& actor, revision_number number,
                                            timestamp now);

/// The approver (for `oracle_health`: an admin) rejects a pending revision.
[[nodiscard]] result<fhir_endpoint> reject(const fhir_endpoint& endpoint, const tenant& t,
                                           const account_id& actor, revision_number number,
                                           timestamp now);

/// An admin or the approver withdraws the approved revision; launches stop until another is
/// approved. Allowed while the tenant is suspended (it only reduces access).
[[nodiscard]] result<fhir_endpoint> revoke(const fhir_endpoint& endpoint, const tenant& t,
                                           const account_id& actor, timestamp now);

/// Refuses (`invalid_argument`) a launch whose endpoint environment differs from the
/// environment the visit or launch targets, e.g. a test EHR launching into production.
[[nodiscard]] result<void> check_launch_environment(fhir_environment endpoint_environment,
                                                    fhir_environment target_environment);

[[nodiscard]] std::string_view to_string(revision_state state) noexcept;
[[nodiscard]] std::string_view to_string(fhir_environment environment) noexcept;
[[nodiscard]] std::string_view to_string(client_type type) noexcept;

}  // namespace visitd::domain
