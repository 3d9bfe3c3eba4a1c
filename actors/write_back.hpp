#pragma once

// Write-back: one actor per tenant endpoint delivers its outbox to the EHR (docs/write-back.md),
// behind one hub that routes to them.
//
// The hub (`write_back_hub`) receives the items of every durable visit append (visit actors send
// them, see actors/write_back_sink.hpp) and spawns an endpoint actor on first need; at start it
// spawns one for every endpoint with anything in its outbox, so what a crash left pending is
// delivered after a restart.
//
// An endpoint actor:
// - reads its outbox from the store (pages of visits' items, rebuilt from each visit's events
//   after its cursor, see storage/outbox.hpp, up to `max_in_memory` items; the rest is read
//   once memory drains), then takes pushed items. A visit the read could not rebuild, or whose
//   actor was restarted after a failure, is read again on its own; its pushes are not taken
//   until then, since delivering one moves the visit's cursor past everything before it;
// - learns the tenant's write-back policy (domain/write_back_policy.hpp, narrowed to what the
//   box allows) and the endpoint's approved revision from its tenant actor, and checks the EHR's
//   CapabilityStatement (at start, when told the endpoint or the policy changed, and every
//   `recheck_interval`) to plan the writes (fhir/capability_statement.hpp). Until both are
//   known, or while the endpoint cannot be written at all (no approved revision, a public
//   client, AuditEvents that could not be written idempotently), items wait and the status
//   says why;
// - delivers each visit's items in sequence order (one in flight per visit, at most
//   `max_in_flight` per endpoint), each item's writes one after the other;
// - retries transient failures with exponential backoff and jitter (honouring Retry-After)
//   behind a circuit breaker, and moves permanent failures (and items given up after
//   `retry.max_attempts`) to the dead letters, durably, before forgetting them;
// - moves the visit's cursor past a delivered item through the journal (or erases the item's
//   entry, for a re-driven one). Should that write be lost in a crash, the item is delivered
//   again after the restart, which the idempotent writes absorb.

#include "actors/directory.hpp"
#include "actors/write_back_sink.hpp"
#include "actors/write_back_types.hpp"
#include "domain/write_back.hpp"
#include "fhir/capability_statement.hpp"
#include "fhir/write_back_client.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace visitd::storage {
class journal;
class store;
}  // namespace visitd::storage

namespace visitd::actors {

using wb_attach_atom = caf::atom_constant<caf::atom("wbattach")>;
using wb_status_atom = caf::atom_constant<caf::atom("wbstatus")>;
using wb_list_atom = caf::atom_constant<caf::atom("wblist")>;
using wb_dead_atom = caf::atom_constant<caf::atom("wbdead")>;
using wb_redrive_atom = caf::atom_constant<caf::atom("wbredrive")>;
using wb_refresh_atom = caf::atom_constant<caf::atom("wbrefresh")>;

/// The hub's interface:
///   (wb_items_atom, items)                      -> routed to the items' endpoint actor.
///   (wb_resync_atom, tenant, endpoint, visit)   -> the endpoint actor reads the visit's items
///                                                  from the store (actors/write_back_sink.hpp).
///   (wb_attach_atom, directory)                 -> where endpoint actors look endpoints up
///                                                  (the directory is spawned after the hub).
///   (wb_status_atom, tenant, endpoint)          -> write_back_status.
///   (wb_list_atom)                              -> every endpoint actor's status.
///   (wb_dead_atom, tenant, endpoint, limit)     -> the endpoint's dead letters (oldest key
///                                                  first), at most `limit`.
///   (wb_redrive_atom, tenant, endpoint)         -> how many dead letters were moved back to the
///                                                  outbox (durably) to be delivered again.
///   (wb_refresh_atom, tenant, endpoint)         -> the endpoint changed: read it and its
///                                                  CapabilityStatement again.
///   (wb_refresh_atom, tenant)                   -> the tenant's write-back policy changed:
///                                                  every running endpoint actor of it
///                                                  reads it again.
using write_back_hub = caf::typed_actor<
  caf::reacts_to<wb_items_atom, std::vector<domain::write_back_item>>,
  caf::reacts_to<wb_resync_atom, domain::tenant_id, domain::endpoint_id, domain::visit_id>,
  caf::reacts_to<wb_attach_atom, directory>,
  caf::replies_to<wb_status_atom, domain::tenant_id, domain::endpoint_id>::with<write_back_status>,
  caf::replies_to<wb_list_atom>::with<std::vector<write_back_status>>,
  caf::replies_to<wb_dead_atom, domain::tenant_id, domain::endpoint_id,
                  std::uint64_t>::with<std::vector<domain::dead_letter>>,
  caf::replies_to<wb_redrive_atom, domain::tenant_id, domain::endpoint_id>::with<std::uint64_t>,
  caf::reacts_to<wb_refresh_atom, domain::tenant_id, domain::endpoint_id>,
  caf::reacts_to<wb_refresh_atom, domain::tenant_id>>;

struct write_back_args {
  storage::journal* journal = nullptr;    ///< Must outlive the actors.
  const storage::store* store = nullptr;  ///< Must outlive the actors.
  clock_function clock;
  write_back_transport transport;
  write_back_options options;
  /// Spawn an actor for every endpoint with anything in its outbox at start.
  bool resume_stored = true;
};

/// Spawns the hub. Send it (wb_attach_atom, directory) before it can deliver anything.
[[nodiscard]] write_back_hub spawn_write_back_hub(caf::actor_system& system, write_back_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::write_back_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::actors::write_back_status>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::domain::dead_letter>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::fhir::delivery_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::fhir::write_back_support)
