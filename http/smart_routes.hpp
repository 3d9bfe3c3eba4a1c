#pragma once

// SMART App Launch 2.x, visitd's side (docs/smart.md):
//   POST /api/v1/tenants/{tenant_id}/endpoints/{endpoint_id}/revisions/{revision}/validation
//        The tenant's approver starts the EHR sign-in that validates a revision's URL: visitd
//        fetches the EHR's SMART configuration, remembers the sign-in (state, PKCE verifier,
//        nonce; bound to this browser by the `__Host-smart` cookie set here) and answers
//        {"authorize_url", "expires_at"}: the portal sends the browser there.
//   GET  /smart/{tenant_id}/{endpoint_id}/callback?code=&state=   (or ?error=&state=)
//        The EHR sends the browser back: the state is used up, the code exchanged (PKCE, and a
//        private_key_jwt assertion for confidential clients), the id_token verified against the
//        issuer's keys, and its fhirUser recorded: the revision is validated. Answers a small
//        page saying what happened, or JSON when the request accepts application/json.
//   GET  /smart/{tenant_id}/jwks.json
//        The tenant's public keys (RS384 and ES384; the previous generation too while a rotation
//        settles), which the EHR uses to check visitd's client assertions.
//
// Failures say what failed: 400 for a missing or unknown state, 403 for another browser's
// state or an EHR that refused the sign-in, 409 for an expired one, 502 (code `ehr_failure`)
// when the EHR could not be reached or answered something unusable (no SMART configuration, no
// S256, a token error, an id_token that does not verify). Nothing is recorded unless every
// check passed.

#include "actors/runtime.hpp"
#include "auth/secret_key.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "fhir/key_ring.hpp"
#include "fhir/pending_authorizations.hpp"
#include "fhir/smart_client.hpp"
#include "http/router.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace visitd::http {

/// The name of the cookie binding a sign-in to the browser that started it. SameSite=Lax, not
/// Strict: the EHR's redirect back is a cross-site top-level navigation, which must carry it.
inline constexpr std::string_view smart_binding_cookie = "__Host-smart";

struct smart_services {
  std::shared_ptr<fhir::smart_client> client;
  std::shared_ptr<fhir::pending_authorizations> pending;
  std::shared_ptr<fhir::key_ring> keys;
  /// The box's public https base URL (redirect URIs are built from it).
  std::function<std::string()> public_url;
  /// The https client's trust name for a tenant's EHR ("" = the system store only).
  std::function<std::string(const domain::tenant_id&)> trust_for;
  /// How long a started sign-in may take (the approval flow's own expiry applies to
  /// validations).
  std::chrono::seconds sign_in_ttl{std::chrono::minutes{10}};
  /// The clock (the system clock when empty).
  std::function<domain::timestamp()> clock;
};

/// Adds these routes and the launches (http/launch_routes.hpp). `runtime` and `join_link_key`
/// must outlive the routes.
void add_smart_routes(router& routes, actors::runtime& runtime, const smart_services& services,
                      const auth::secret_key& join_link_key);

}  // namespace visitd::http
