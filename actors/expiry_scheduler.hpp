#pragma once

// Many visits' expiry deadlines on one timer. A visit actor hands its next deadline here instead
// of arming a CAF timer of its own: a pending delayed message costs each idle actor ~250 bytes
// (message, mailbox element and clock entry; bench/run.sh actors), an entry here ~24. When a
// deadline's timer fires, the visit is sent (expiry_due_atom, deadline), exactly what its own
// timer would have sent; the visit checks the deadline against its clock and expires or arms
// again. Entries hold the actor's address only, so a visit that stopped is skipped, not kept.
//
// Interface (`expiry_scheduler`):
//   (expiry_arm_atom, visit actor address, deadline) -> the visit is told when `deadline`
//        (domain time, converted to a delay with `clock` at arm time, plus 1 ms) has passed.
//        Arming again with a later deadline does not cancel the earlier one (the visit ignores
//        a deadline it no longer has).

#include "domain/time.hpp"

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <functional>

namespace visitd::actors {

using expiry_arm_atom = caf::atom_constant<caf::atom("xarm")>;
/// What a visit receives when a deadline it armed has passed: (expiry_due_atom, deadline).
using expiry_due_atom = caf::atom_constant<caf::atom("vexpiry")>;

using expiry_scheduler =
  caf::typed_actor<caf::reacts_to<expiry_arm_atom, caf::actor_addr, domain::timestamp>>;

/// Spawns a scheduler that converts deadlines to delays with `clock` (domain time).
[[nodiscard]] expiry_scheduler spawn_expiry_scheduler(caf::actor_system& system,
                                                      std::function<domain::timestamp()> clock);

}  // namespace visitd::actors
