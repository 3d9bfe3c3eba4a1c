#pragma once

// Where visit actors hand the write-back items of their appends once those are durable (the
// outbox rebuilds them from the events after a restart: this spares the write-back actors
// reading them back). Kept
// apart from actors/write_back.hpp so the visit actor does not depend on the fhir layer.

#include "domain/write_back.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <vector>

namespace visitd::actors {

/// Items of one append (one visit, so one tenant endpoint), in sequence order.
using wb_items_atom = caf::atom_constant<caf::atom("wbitems")>;
/// A visit actor restarted after a failure: an append of its predecessor may have become durable
/// without its items being pushed, so the visit's items are read from the store. Sent before
/// the new actor's first push, by the same actor, so it arrives first: a push never moves the
/// visit's cursor past items nobody holds.
using wb_resync_atom = caf::atom_constant<caf::atom("wbresync")>;

using write_back_sink = caf::typed_actor<
  caf::reacts_to<wb_items_atom, std::vector<domain::write_back_item>>,
  caf::reacts_to<wb_resync_atom, domain::tenant_id, domain::endpoint_id, domain::visit_id>>;

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::domain::write_back_item>)
