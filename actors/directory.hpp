#pragma once

// The directory: the one place that knows which actor serves which tenant and visit. It spawns
// the tenant actors, tenant boards and visit actors (at start, from what recovery found), routes
// every visit message to the visit's actor, and manages their life:
//
// - Find or spawn: a message for a passivated visit re-activates it (a new actor that loads the
//   visit from the store before handling anything), transparently for the sender.
// - Compaction and passivation: a visit untouched for `compact_after` is told to compact (keep its
//   state encoded); one untouched for `passivate_after` is asked to stop (it refuses while it has
//   subscribers or work). Messages arriving meanwhile wait in the directory and follow the visit
//   to whichever actor serves it next. A passivated visit that must expire is woken for it.
// - Supervision: visit actors are linked to the directory; one that fails is logged, counted and
//   restarted from the store (after the journal settles anything it left in flight), at most
//   `max_restarts` times per `restart_window`; the others are untouched.
//
// Interface (`directory`):
//   (dir_create_tenant_atom, tenant, by, after)
//                                          -> tenant_handles; the tenant and its audit entry
//                                             (`tenant.create` by account `by`, `after` the
//                                             caller's JSON of the tenant) are durable first, in
//                                             one write. `conflict` if it exists,
//                                             `invalid_argument` if its region is not one this
//                                             box serves.
//   (dir_list_tenants_atom)                -> the handles of every tenant (for listings: each
//                                             tenant actor answers for its own record).
//   (dir_tenant_atom, tenant id)           -> tenant_handles, or `not_found`.
//   (dir_open_visit_atom, visit_info, by)  -> the visit's state: a new visit is created durably,
//                                             with its `visit.open` audit entry naming account
//                                             `by`; an open one (live or passivated) is looked
//                                             up.
//                                             `not_found` for an unknown tenant, `conflict` for
//                                             an id the store has for an ended visit.
//   (visit id, X)                          -> as the visit actor answers X (command, subscribe,
//                                             resume, unsubscribe, ack, get_state); `not_found`
//                                             for a visit the directory does not know.
//   (dir_approval_flow_atom, tenant id, endpoint id, revision)
//                                          -> the approval flow of that endpoint revision: the
//                                             live one, or a new one (flows keep a pending EHR
//                                             sign-in in memory only; one per revision, so a
//                                             sign-in begun through one is completed by it).
//                                             `not_found` for an unknown tenant. The flow checks
//                                             the endpoint and revision itself.
//   (dir_read_visit_atom, visit id)        -> the visit's state: from its actor when the
//                                             directory serves it (re-activating a passivated
//                                             one), else folded from the store by the loader
//                                             (an ended visit); `not_found` for an unknown id,
//                                             `conflict` once retention removed its events.
//   (dir_record_audit_atom, entry)         -> ok once the audit entry is durable (for actions
//                                             that change no record, e.g. issuing a join link).
//   (dir_read_audit_atom, tenant, from, to, limit)
//                                          -> audit entries, read by the loader (its thread).
//   (dir_stats_atom)                       -> directory_stats.
//
// Tenant actors are linked too: one that fails is restarted from the store (tenant and
// endpoints, read by the loader after a journal barrier), with the same limit as visits;
// requests for its handles wait meanwhile. Its approval flows stop with it (they hold the old
// handle); the next request spawns new ones. A tenant board that fails is logged and counted
// only: the summaries it held come from live visits and are rebuilt as they change.
//
// Ended visits are forgotten once passivated (their report row and events are in the store).

#include "actors/approval_flow.hpp"
#include "actors/messages.hpp"
#include "actors/tenant_actor.hpp"
#include "actors/tenant_board.hpp"
#include "actors/visit_actor.hpp"
#include "actors/visit_loader.hpp"
#include "domain/regions.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"
#include "storage/audit_log.hpp"
#include "storage/recovery.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace visitd::actors {

struct directory_options {
  /// Idle time after which a visit actor keeps its state encoded (see visit_actor.hpp).
  std::chrono::milliseconds compact_after{std::chrono::seconds{30}};
  /// Idle time after which a visit actor is asked to stop (its state is durable).
  std::chrono::milliseconds passivate_after{std::chrono::minutes{10}};
  /// How often the directory looks for idle visits and visits to wake for expiry.
  std::chrono::milliseconds sweep_interval{std::chrono::seconds{5}};
  /// Timeout of the directory's own requests (passivation).
  std::chrono::milliseconds request_timeout{std::chrono::seconds{2}};
  /// A visit failing more often than this within `restart_window` is given up (its requests
  /// get `unavailable`; the next message tries again).
  std::size_t max_restarts = 3;
  std::chrono::milliseconds restart_window{std::chrono::minutes{1}};
  /// Ended visits stay on tenant boards this long after their scheduled start.
  std::chrono::hours board_keep_ended{24};
  /// How long an approver's EHR sign-in (begun through an approval flow) can be completed.
  std::chrono::milliseconds validation_ttl{std::chrono::minutes{10}};
  /// An approval flow with no message for this long stops (the next request spawns another).
  std::chrono::milliseconds flow_idle_lifetime{std::chrono::hours{1}};
  /// Run the store loader on its own thread (tests on CAF's test coordinator turn this off).
  bool detached_loader = true;
};

struct directory_args {
  storage::journal* journal = nullptr;    ///< Must outlive the directory.
  const storage::store* store = nullptr;  ///< Must outlive the directory.
  clock_function clock;
  domain::visit_policy policy;
  /// The regions this box serves (config `regions`): a new tenant outside them is refused.
  /// Tenants already stored load whatever their region (the operator may drop one later).
  domain::region_list regions;
  visit_actor_limits limits;
  bool expiry_timers = true;
  directory_options options;
  storage::recovered_state recovered;  ///< Spawned at start.
  /// The box's one audit sequence (storage/audit_log.hpp), shared by every audit writer; the
  /// directory makes its own when null (tests).
  std::shared_ptr<storage::audit_sequence> audit_sequence;
  /// Where visit actors send the write-back items of their appends (may be null).
  write_back_sink write_back;
};

struct tenant_handles {
  tenant_actor tenant;
  tenant_board board;
};

struct directory_stats {
  std::size_t tenants = 0;
  std::size_t visits = 0;         ///< Known open visits (live or passivated).
  std::size_t live_visits = 0;    ///< With an actor.
  std::uint64_t compactions = 0;  ///< Compact requests sent.
  std::uint64_t passivations = 0;
  std::uint64_t reactivations = 0;
  std::size_t approval_flows = 0;  ///< Live approval flows.
  std::uint64_t failures = 0;      ///< Visit and tenant actors (and boards) that failed.
  std::uint64_t restarts = 0;      ///< Visit and tenant actors restarted.
  std::uint64_t given_up = 0;
};

using dir_create_tenant_atom = caf::atom_constant<caf::atom("dtcreate")>;
using dir_list_tenants_atom = caf::atom_constant<caf::atom("dtlist")>;
using dir_tenant_atom = caf::atom_constant<caf::atom("dtenant")>;
using dir_open_visit_atom = caf::atom_constant<caf::atom("dvopen")>;
using dir_stats_atom = caf::atom_constant<caf::atom("dstats")>;
using dir_approval_flow_atom = caf::atom_constant<caf::atom("dflow")>;
using dir_read_audit_atom = caf::atom_constant<caf::atom("daudit")>;
using dir_read_visit_atom = caf::atom_constant<caf::atom("dvread")>;
using dir_record_audit_atom = caf::atom_constant<caf::atom("dauditadd")>;

using directory = caf::typed_actor<
  caf::replies_to<dir_create_tenant_atom, domain::tenant, domain::account_id,
                  std::string>::with<tenant_handles>,
  caf::replies_to<dir_list_tenants_atom>::with<std::vector<tenant_handles>>,
  caf::replies_to<dir_tenant_atom, domain::tenant_id>::with<tenant_handles>,
  caf::replies_to<dir_open_visit_atom, domain::visit_info,
                  domain::account_id>::with<domain::visit_state>,
  caf::replies_to<dir_record_audit_atom, domain::audit_entry>::with<caf::ok_atom>,
  caf::replies_to<domain::visit_id, domain::command>::with<command_reply>,
  caf::replies_to<domain::visit_id, subscribe_atom, visit_subscriber>::with<std::uint64_t>,
  caf::replies_to<domain::visit_id, resume_atom, visit_subscriber,
                  std::uint64_t>::with<std::uint64_t>,
  caf::reacts_to<domain::visit_id, unsubscribe_atom, visit_subscriber>,
  caf::reacts_to<domain::visit_id, subscriber_ack_atom, visit_subscriber, std::uint64_t>,
  caf::replies_to<domain::visit_id, get_state_atom>::with<domain::visit_state>,
  caf::replies_to<dir_approval_flow_atom, domain::tenant_id, domain::endpoint_id,
                  domain::revision_number>::with<approval_flow>,
  caf::replies_to<dir_read_audit_atom, domain::tenant_id, domain::timestamp, domain::timestamp,
                  std::uint64_t>::with<audit_entries>,
  caf::replies_to<dir_read_visit_atom, domain::visit_id>::with<domain::visit_state>,
  caf::replies_to<dir_stats_atom>::with<directory_stats>>;

/// Spawns the directory and everything `args.recovered` holds. Stopping the directory (an exit
/// message) stops every actor it spawned.
[[nodiscard]] directory spawn_directory(caf::actor_system& system, directory_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::tenant_handles)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::audit_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::actors::tenant_handles>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::directory_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::revision_number)
