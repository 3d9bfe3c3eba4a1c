#pragma once

// Staff in a visit, over REST (a provider's EHR launch replaces the linking step in the SMART
// issue; the actions stay):
//   POST /api/v1/tenants/{tenant_id}/providers   {account, ehr_user}   (tenant admin) links a
//        portal account to its EHR user in this tenant; staff act in visits as that user.
//   POST .../visits/{visit_id}/staff/join | /staff/leave      the caller (linked) is present
//        in the visit as a provider, or leaves it.
//   POST .../visits/{visit_id}/lobby/admit      {participant}
//   POST .../visits/{visit_id}/lobby/admit-all
//   POST .../visits/{visit_id}/lobby/deny       {participant, reason?}
//   POST .../visits/{visit_id}/lobby/return     {participant}
//   POST .../visits/{visit_id}/lobby/message    {text, to?}
//   POST .../visits/{visit_id}/end
// Each answers {"last_seq"} once its events are durable; the domain's refusals are 403 (not
// staff in this visit) or 409 (not in the lobby, visit ended, ...).

#include "actors/runtime.hpp"
#include "http/router.hpp"

namespace visitd::http {

/// `runtime` must outlive the routes.
void add_lobby_routes(router& routes, actors::runtime& runtime);

}  // namespace visitd::http
