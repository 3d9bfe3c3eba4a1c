#pragma once

// Write-back in the portal API and /metrics:
//   GET  /api/v1/tenants/{t}/endpoints/{e}/write-back                     status and plan
//   GET  /api/v1/tenants/{t}/endpoints/{e}/write-back/dead-letters?limit=  dead letters
//   POST /api/v1/tenants/{t}/endpoints/{e}/write-back/dead-letters/redrive back to the outbox
//   GET  /metrics   Prometheus text: queue depth, oldest pending age, deliveries, retries and
//                   dead letters per tenant endpoint (operators, or any caller on loopback).

#include "actors/runtime.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// `runtime` must outlive the routes.
void add_write_back_routes(router& routes, actors::runtime& runtime);

}  // namespace visitd::http
