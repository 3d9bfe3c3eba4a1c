#pragma once

// One actor per endpoint revision awaiting validation or approval. It drives the revision
//   draft -> awaiting_validation -> validated -> approved (or -> rejected)
// by sending endpoint changes to the tenant actor (the only writer of endpoints, which decides
// each change with the domain rules of domain/fhir_endpoint.hpp) and relaying the answers. What
// it adds is the pending validation: the state, nonce and PKCE pair of the approver's EHR
// sign-in, which live only here, in memory, until used or expired. Its durable state is the
// revision in the tenant actor, so it may stop at any time and be spawned again.
//
// Interface (`approval_flow`); every error is a domain error (to_caf_error):
//   (begin_validation_atom, approver)         -> pending_validation: fresh secrets for a sign-in
//        that expires `validation_ttl` after now; it replaces any pending one (whose state then
//        stops working). `forbidden` unless `approver` is the tenant's approver (checked before
//        any secret is made); `conflict` for an oracle_health tenant (no validation step) or a
//        revision that is not awaiting validation; `not_found` for an unknown endpoint or
//        revision. A draft revision is submitted first when the approver is also an admin (the
//        domain lets only admins submit); otherwise it is `conflict` (an admin must submit it).
//   (complete_validation_atom, state, approver, ehr_user) -> the endpoint with the revision
//        validated. `state` is compared in constant time. Errors: `conflict` when nothing is
//        pending (never begun, used, replaced or expired); `invalid_argument` when `state` does
//        not match (the pending validation stays); once it matches, the pending validation is
//        used up whatever follows: `forbidden` when `approver` is not who began it, `conflict`
//        when it expired, else the tenant actor's answer to endpoint_change::validate.
//   (approve_revision_atom, account)          -> the endpoint with the revision approved.
//   (reject_revision_atom, account)           -> the endpoint with the revision rejected.
//        Both relay endpoint_change::approve / reject (oracle_health: an admin approves without
//        any validation). On success the flow stops (exit reason `normal`): its work is done.
//
// Expiry is `conflict`, not `timeout`: nothing failed to answer; the sign-in must start again.
// Every request to the tenant actor has `request_timeout`; if it passes, the requester gets
// `timeout` (the outcome of a change is then unknown: the tenant actor may still apply it).
// Requests are handled one at a time (the flow awaits the tenant actor before taking the next
// message), so a complete never races the begin before it.
//
// The flow stops on its own after `idle_lifetime` without a message, and when the tenant actor
// it talks to terminates (a re-spawned tenant actor has a new handle; so must the flow).

#include "actors/messages.hpp"
#include "actors/tenant_actor.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <type_traits>

namespace visitd::actors {

// -- atoms (CAF 0.17: at most 10 characters) ---------------------------------------------------

using begin_validation_atom = caf::atom_constant<caf::atom("afbegin")>;
using complete_validation_atom = caf::atom_constant<caf::atom("afcomplete")>;
using approve_revision_atom = caf::atom_constant<caf::atom("afapprove")>;
using reject_revision_atom = caf::atom_constant<caf::atom("afreject")>;

// -- messages ----------------------------------------------------------------------------------
// pending_validation: actors/endpoint_commands.hpp (CAF-free, so the runtime can pass it on).

/// The approval flow's public interface (see the file comment).
using approval_flow = caf::typed_actor<
  caf::replies_to<begin_validation_atom, domain::account_id>::with<pending_validation>,
  caf::replies_to<complete_validation_atom, std::string, domain::account_id,
                  domain::ehr_user_id>::with<domain::fhir_endpoint>,
  caf::replies_to<approve_revision_atom, domain::account_id>::with<domain::fhir_endpoint>,
  caf::replies_to<reject_revision_atom, domain::account_id>::with<domain::fhir_endpoint>>;

struct approval_flow_args {
  tenant_actor tenant;  ///< The tenant actor of the endpoint's tenant.
  domain::endpoint_id endpoint;
  domain::revision_number revision;  ///< The revision this flow drives.
  /// The time source for `expires_at` (the system clock when empty).
  std::function<domain::timestamp()> clock;
  /// How long a begun validation can be completed. The approver signs in to the EHR meanwhile.
  std::chrono::milliseconds validation_ttl{std::chrono::minutes{10}};
  /// How long the flow waits for each answer of the tenant actor.
  std::chrono::milliseconds request_timeout{std::chrono::seconds{5}};
  /// The flow stops after this long without a message (a directory re-spawns it on demand).
  std::chrono::milliseconds idle_lifetime{std::chrono::hours{24}};
};

/// Spawns the flow of one revision. Precondition: `args.tenant` is a valid handle.
[[nodiscard]] approval_flow spawn_approval_flow(caf::actor_system& system, approval_flow_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::pending_validation)
