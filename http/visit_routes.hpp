#pragma once

// Visits of a tenant, for its admins (providers reach visits through the EHR launch):
//   POST /api/v1/tenants/{tenant_id}/visits   {endpoint, appointment | encounter, department?,
//        scheduled_start} -> 201 a new visit, or 200 the open one for the same EHR reference:
//        the visit id is derived from tenant, endpoint and reference, so creating is idempotent.
//   GET  /api/v1/tenants/{tenant_id}/visits?day=YYYY-MM-DD&state=&department=   (members and
//        the tenant's providers, i.e. accounts linked to an EHR user there)
//        -> {"visits": [summary...]}: the tenant's board, i.e. its open visits and those ended
//        within the last day (older ones are in the reports), by scheduled start.
//   GET  /api/v1/tenants/{tenant_id}/visits/{visit_id}   (open, or ended: read from the store)
//   POST /api/v1/tenants/{tenant_id}/visits/{visit_id}/join-links   {role, valid_minutes?}
//        -> 201 an opaque, signed, expiring link for one patient or guest of that visit.

#include "actors/runtime.hpp"
#include "auth/secret_key.hpp"
#include "http/router.hpp"

#include <functional>
#include <optional>
#include <string>

namespace visitd::http {

/// The visit id for one EHR reference (`Appointment/…` or `Encounter/…`) of one endpoint of one
/// tenant: opening a visit over the API and launching into it from the EHR name the same visit.
[[nodiscard]] domain::visit_id visit_id_for(const domain::tenant_id& tenant,
                                            const domain::endpoint_id& endpoint,
                                            const domain::fhir_reference& reference);

/// A join link made for one participant of a visit.
struct issued_join_link {
  std::string token;  ///< The sealed grant: the credential (never logged or audited).
  domain::timestamp expires_at{};
};

/// Seals a join link for `participant` of visit `v` in `role`, valid until `expires_at`, and
/// audits it (`visit.join_link` by `by`: visit, role, participant, expiry, and the EHR user when
/// the link is for one; never the token) before `done` gets it. Used by admins' join-link
/// requests and by patient launches.
void issue_join_link(actors::runtime& runtime, const auth::secret_key& join_link_key,
                     const domain::visit_state& v, domain::participant_role role,
                     const domain::join_id& participant, domain::timestamp expires_at,
                     const domain::account_id& by,
                     const std::optional<domain::ehr_user_id>& ehr_user,
                     const std::function<void(domain::result<issued_join_link>)>& done);

/// `runtime` and `join_link_key` must outlive the routes.
void add_visit_routes(router& routes, actors::runtime& runtime,
                      const auth::secret_key& join_link_key);

}  // namespace visitd::http
