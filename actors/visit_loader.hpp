#pragma once

// Reads a visit back from the store for an actor that re-activates it (after passivation or a
// failure), and a tenant for a tenant actor restarted after a failure, so the blocking RocksDB
// reads happen in the loader, not in a visit actor or the directory. In production the loader runs
// detached (its own thread); tests may schedule it on CAF's test coordinator instead.
//
// Interface (`visit_loader`):
//   (load_visit_atom, visit id, barrier) -> loaded_visit: the visit's state folded from its
//        events and its latest events (at most `max_history_events`). `barrier`: first wait
//        until the journal has committed everything queued before this request. `not_found`
//        for an unknown visit; `conflict` when retention has removed its events.
//   (load_tenant_atom, tenant id)        -> the tenant and its endpoints as stored, once the
//        journal has committed everything queued before the request (always a barrier: the
//        only reader is a restart). `not_found` for an unknown tenant.
//   (visit_exists_atom, visit id)        -> whether the store has a header for the visit.
//   (read_audit_atom, tenant, from, to, limit) -> the tenant's audit entries with from <= at <
//        to, oldest first, at most `limit` (storage::read_audit).

#include "actors/messages.hpp"
#include "domain/audit.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/visit.hpp"
#include "storage/catalog.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace visitd::storage {
class journal;
}  // namespace visitd::storage

namespace visitd::actors {

struct loaded_visit {
  domain::visit_state state;
  std::vector<domain::event_envelope> history;  ///< The latest events, ending at state.last_seq.
};

using audit_entries = std::vector<domain::audit_entry>;

using load_visit_atom = caf::atom_constant<caf::atom("vload")>;
using visit_exists_atom = caf::atom_constant<caf::atom("vexists")>;
using load_tenant_atom = caf::atom_constant<caf::atom("tload")>;
using read_audit_atom = caf::atom_constant<caf::atom("auread")>;

using visit_loader = caf::typed_actor<
  caf::replies_to<load_visit_atom, domain::visit_id, bool>::with<loaded_visit>,
  caf::replies_to<load_tenant_atom, domain::tenant_id>::with<storage::stored_tenant>,
  caf::replies_to<visit_exists_atom, domain::visit_id>::with<bool>,
  caf::replies_to<read_audit_atom, domain::tenant_id, domain::timestamp, domain::timestamp,
                  std::uint64_t>::with<audit_entries>>;

struct visit_loader_args {
  const storage::store* store = nullptr;  ///< Must outlive the loader.
  storage::journal* journal = nullptr;    ///< For barriers; must outlive the loader.
  std::size_t max_history_events = 1024;
  bool detached = true;
};

[[nodiscard]] visit_loader spawn_visit_loader(caf::actor_system& system, visit_loader_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::loaded_visit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::storage::stored_tenant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::audit_entries)
