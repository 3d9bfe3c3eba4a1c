#pragma once

// Tenants and accounts, the operator's part of the portal API:
//   POST /api/v1/accounts              (operator) a portal account -> 201
//   POST /api/v1/tenants               (operator) a tenant -> 201; audited with the tenant
//   GET  /api/v1/tenants               (operator) every tenant, by id
//   GET  /api/v1/tenants/{tenant_id}   the operator, or the tenant's admins and approver; 404 to
//                                      anyone else, so tenants cannot be discovered
// Every state-changing request needs the session's CSRF header.

#include "actors/runtime.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// `runtime` must outlive the routes.
void add_tenant_routes(router& routes, actors::runtime& runtime);

}  // namespace visitd::http
