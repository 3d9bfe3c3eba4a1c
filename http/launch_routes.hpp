#pragma once

// The three launches from the EHR (SMART App Launch 2.x), at the launch URLs of the integration
// records:
//   GET /smart/{tenant_id}/{endpoint_id}/launch/provider?iss=&launch=     (EHR launch)
//   GET /smart/{tenant_id}/{endpoint_id}/launch/patient?iss=[&launch=]    (patient portal)
//   GET /smart/{tenant_id}/{endpoint_id}/launch/device-test?iss=[&launch=]
// Each checks that the tenant is active, the endpoint has an approved revision and `iss` is
// that revision's FHIR base (a launch from the tenant's test EHR at a production endpoint's URL,
// or the reverse, is refused as `environment_mismatch`), then sends the browser (302) to the
// EHR's authorize endpoint with the record's scopes, PKCE and a state bound to the browser.
// The EHR sends it back to the endpoint's callback (http/smart_routes.cpp), which finishes here:
//   - provider: the visit of the launch's appointment (fhirContext) or encounter is found or
//     opened (its id derived from tenant, endpoint and reference, as for the portal API); the
//     EHR user's linked account gets a session and goes straight in (staff). The first time, no
//     account is linked: the answer carries a one-time `link_token` (10 minutes), and
//     POST /api/v1/ehr-links {link_token}, made by the provider signed in to visitd, links the
//     account to that EHR user in that tenant (audited) and enters the visit.
//   - patient: the same visit; a join link for the patient (a participant id derived from the
//     EHR user, so a second launch is the same participant) is issued, audited, and answered: no
//     account, no sign-in.
//   - device-test: nothing is opened; the answer says the camera/microphone check may start.
// Answers are JSON when the request accepts application/json, else a small page.

#include "actors/runtime.hpp"
#include "auth/secret_key.hpp"
#include "fhir/pending_authorizations.hpp"
#include "fhir/smart_client.hpp"
#include "http/router.hpp"
#include "http/smart_routes.hpp"

#include <memory>

namespace visitd::http {

/// The one-time account links of providers who launched before linking (in memory, expiring).
class provider_links;

[[nodiscard]] std::shared_ptr<provider_links> make_provider_links();

/// `runtime` and `join_link_key` must outlive the routes.
void add_launch_routes(router& routes, actors::runtime& runtime, const smart_services& services,
                       const auth::secret_key& join_link_key,
                       const std::shared_ptr<provider_links>& links);

/// The callback's end of a launch, once the EHR's tokens and id_token are verified.
void finish_launch(actors::runtime& runtime, const smart_services& services,
                   const auth::secret_key& join_link_key,
                   const std::shared_ptr<provider_links>& links, const request& req,
                   const responder& respond, const fhir::pending_authorization& ctx,
                   const fhir::signed_in_user& user);

}  // namespace visitd::http
