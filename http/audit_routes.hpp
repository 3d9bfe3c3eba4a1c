#pragma once

// The admin audit log, read back:
//   GET /api/v1/audit?tenant=ID[&from=RFC3339][&to=RFC3339][&limit=N]
// Operators read any tenant's entries and the box's own (`tenant=_box`); a tenant's admins read
// their tenant's; anyone else gets 404 as for a missing tenant. Oldest first, at most `limit`
// (default 100, at most 1000); `next_from` is where the next page starts when one was full.

#include "actors/runtime.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// `runtime` must outlive the routes.
void add_audit_routes(router& routes, actors::runtime& runtime);

}  // namespace visitd::http
