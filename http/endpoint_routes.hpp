#pragma once

// A tenant's FHIR endpoints and the approval of their revisions (tenant admins and the
// approver; anyone else gets 404, as for the tenant itself):
//   GET  /api/v1/tenants/{tenant_id}/endpoints
//   POST /api/v1/tenants/{tenant_id}/endpoints                 {id, base_url, environment,
//                                                               client_id, client_type}
//   POST /api/v1/tenants/{tenant_id}/endpoints/{endpoint_id}/revisions     (the same settings)
//   POST .../endpoints/{endpoint_id}/revisions/{revision}/submit
//   POST .../endpoints/{endpoint_id}/revisions/{revision}/approve
//   POST .../endpoints/{endpoint_id}/revisions/{revision}/reject
//   GET  .../endpoints/{endpoint_id}/revisions/{revision}/integration-records
//        -> the provider, patient and device-test records an EHR analyst enters (launch URL,
//        redirect URI, JWKS URL, scopes, EHR-specific parameters) of an approved revision; 409
//        for one not approved (or a suspended tenant).
// The domain decides who may do what (an admin creates, changes and submits; the approver
// approves after validating; for oracle_health tenants an admin approves alone): 403 with its
// reason otherwise, 409 for a revision not in the right state.

#include "actors/runtime.hpp"
#include "http/router.hpp"

#include <functional>
#include <string>

namespace visitd::http {

/// `runtime` must outlive the routes. `public_url` gives the box's public https base URL (the
/// integration records are built from it).
void add_endpoint_routes(router& routes, actors::runtime& runtime,
                         const std::function<std::string()>& public_url);

}  // namespace visitd::http
