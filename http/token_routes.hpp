#pragma once

// API tokens of a tenant, for its admins' automation (signed in with a session, not a token):
//   POST   /api/v1/tenants/{tenant_id}/api-tokens            {label} -> 201 {id, token, label,
//          tenant, owner, created_at}: `token` is the secret, shown this once; the store keeps
//          its digest. Calls with `Authorization: Bearer <token>` act as the admin who made it,
//          in this tenant only (another tenant's routes answer 404, operator routes 403).
//   GET    /api/v1/tenants/{tenant_id}/api-tokens            -> {tokens: [...]} without secrets
//   DELETE /api/v1/tenants/{tenant_id}/api-tokens/{token_id} -> 204; refused at once from then on
// Each creation and revocation is in the tenant's audit log.

#include "actors/runtime.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// `runtime` must outlive the routes.
void add_token_routes(router& routes, actors::runtime& runtime);

}  // namespace visitd::http
