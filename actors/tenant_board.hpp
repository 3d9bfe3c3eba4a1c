#pragma once

// One board per tenant: the "my visits today" view. Visit actors tell it (`visit_summary`) when a
// visit's state or lobby/presence counts change; the board keeps the latest summary of every
// visit it has heard of (passivated visits included: their summary does not change while they
// sleep) and pushes each change to its subscribers, filtered by department if they asked.
//
// Interface (`tenant_board`):
//   visit_summary                                   -> (from visit actors) the visit's new summary.
//   (board_subscribe_atom, board_subscriber, dept)  -> board seq; the subscriber is sent a
//                                                      board_snapshot (every visit matching the
//                                                      filter), then a board_update per change.
//   (board_unsubscribe_atom, board_subscriber)      -> nothing more is sent to it.
//   (board_ack_atom, board_subscriber, seq)         -> it processed messages up to that seq.
//   (board_list_atom, dept)                         -> the summaries matching the filter.
//   (board_prune_atom, cutoff)                      -> forgets ended visits scheduled before
//   cutoff.
//
// Board seqs increase by one per change the board records; a filtered subscriber sees a subset,
// in order. Credit works as for visit subscriptions: a subscriber with `max_unacked_messages`
// unacknowledged messages when another is due is sent `board_dropped` and forgotten; it may
// subscribe again for a fresh snapshot. Subscribers are monitored and removed when they exit.

#include "actors/board_stream.hpp"
#include "actors/messages.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "domain/visit.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace visitd::actors {

/// The summary of a visit's state.
[[nodiscard]] visit_summary summarize(const domain::visit_state& state);

/// True when `after` is worth telling a board about: the status or a count changed.
[[nodiscard]] bool board_relevant_change(const visit_summary& before, const visit_summary& after);

struct board_snapshot {
  std::uint64_t seq = 0;  ///< The board seq this snapshot is current at.
  std::vector<visit_summary> visits;
};

struct board_update {
  std::uint64_t seq = 0;
  visit_summary visit;
};

struct board_dropped {
  std::string reason;
};

using board_subscribe_atom = caf::atom_constant<caf::atom("bsubscribe")>;
using board_unsubscribe_atom = caf::atom_constant<caf::atom("bunsub")>;
using board_ack_atom = caf::atom_constant<caf::atom("back")>;
using board_list_atom = caf::atom_constant<caf::atom("blist")>;
using board_prune_atom = caf::atom_constant<caf::atom("bprune")>;
using board_snapshot_atom = caf::atom_constant<caf::atom("bsnapshot")>;
using board_update_atom = caf::atom_constant<caf::atom("bupdate")>;
using board_dropped_atom = caf::atom_constant<caf::atom("bdropped")>;

using department_filter = std::optional<domain::department_id>;

using board_subscriber = caf::typed_actor<caf::reacts_to<board_snapshot_atom, board_snapshot>,
                                          caf::reacts_to<board_update_atom, board_update>,
                                          caf::reacts_to<board_dropped_atom, board_dropped>>;

using tenant_board = caf::typed_actor<
  caf::reacts_to<visit_summary>,
  caf::replies_to<board_subscribe_atom, board_subscriber, department_filter>::with<std::uint64_t>,
  caf::reacts_to<board_unsubscribe_atom, board_subscriber>,
  caf::reacts_to<board_ack_atom, board_subscriber, std::uint64_t>,
  caf::replies_to<board_list_atom, department_filter>::with<std::vector<visit_summary>>,
  caf::reacts_to<board_prune_atom, domain::timestamp>>;

struct tenant_board_args {
  std::vector<visit_summary> visits;  ///< Known at start (from recovery).
  std::size_t max_unacked_messages = 64;
};

[[nodiscard]] tenant_board spawn_tenant_board(caf::actor_system& system, tenant_board_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::visit_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::board_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::board_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::board_dropped)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::department_filter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::actors::visit_summary>)
