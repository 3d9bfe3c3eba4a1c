#pragma once

// One actor per tenant: the only writer of the tenant's FHIR endpoints and their revisions.
// Changes are decided by the domain (domain/fhir_endpoint.hpp), written through the journal
// (with the endpoint URL index and the change's audit entry, `endpoint.<change>` with the
// endpoint before and after, in the same group), and only applied and answered once durable;
// they are processed one at a time, so each is decided against every change before it. Reads
// (the tenant, its endpoints, a launch look-up by URL) are answered from the applied state.

#include "actors/endpoint_commands.hpp"
#include "actors/messages.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/tenant.hpp"

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace visitd::storage {
class audit_sequence;
class journal;
}  // namespace visitd::storage

namespace visitd::actors {

/// What a launch needs: the endpoint whose approved revision uses the launch's URL.
struct endpoint_match {
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  domain::endpoint_revision revision;  ///< The approved (in force) revision.
};

using get_tenant_atom = caf::atom_constant<caf::atom("tget")>;
using list_endpoints_atom = caf::atom_constant<caf::atom("tlist")>;
using find_endpoint_atom = caf::atom_constant<caf::atom("tfind")>;

/// get_tenant -> the tenant; list_endpoints -> every endpoint with all revisions;
/// an endpoint_command -> the endpoint after the change (durable), or a domain error;
/// a tenant_command (the operator's update, suspend, reactivate) -> the tenant after the change
/// (durable, audited under the box), or a domain error;
/// find_endpoint(normalized base URL) -> the match, or not_found.
using tenant_actor =
  caf::typed_actor<caf::replies_to<get_tenant_atom>::with<domain::tenant>,
                   caf::replies_to<list_endpoints_atom>::with<std::vector<domain::fhir_endpoint>>,
                   caf::replies_to<endpoint_command>::with<domain::fhir_endpoint>,
                   caf::replies_to<tenant_command>::with<domain::tenant>,
                   caf::replies_to<find_endpoint_atom, std::string>::with<endpoint_match>>;

struct tenant_actor_args {
  domain::tenant tenant;
  std::vector<domain::fhir_endpoint> endpoints;  ///< As recovered from the store.
  storage::journal* journal = nullptr;           ///< Must outlive the actor.
  std::function<domain::timestamp()> clock;
  /// A change not acknowledged by the journal within this is answered `timeout` (outcome
  /// unknown); the actor still applies it if the acknowledgement comes later.
  std::chrono::milliseconds journal_timeout{5000};
  /// Sequences the audit entry written with each change (one per process; a new one if null).
  std::shared_ptr<storage::audit_sequence> audit_sequence{};
};

[[nodiscard]] tenant_actor spawn_tenant_actor(caf::actor_system& system, tenant_actor_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::tenant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::tenant_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::fhir_endpoint)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::domain::fhir_endpoint>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::endpoint_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::endpoint_match)
