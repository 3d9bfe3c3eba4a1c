#pragma once

// One actor per live visit. It is the only writer of its visit: commands are decided against its
// state, persisted through the journal, and only once durable applied, answered and published to
// subscribers. Commands are processed one at a time (later ones wait in a bounded queue while an
// append is in flight), so `decide` always sees every acknowledged event and sequence numbers
// never collide.
//
// Interface (`visit_actor`):
//   domain::command                          -> command_reply, or a domain error (to_caf_error):
//                                               the decide error, the journal's error, `timeout`
//                                               when the journal does not acknowledge within
//                                               `append_timeout` (outcome unknown) or the command
//                                               waited over `max_queue_wait` (not executed), or
//                                               `unavailable` when the command queue is full.
//   (subscribe_atom, subscriber)             -> last_seq; the subscriber is sent a snapshot of
//                                               the state at last_seq, then every later event.
//   (resume_atom, subscriber, after_seq)     -> last_seq; the subscriber is sent the events
//                                               (after_seq, last_seq] (none if equal), then every
//                                               later event. `invalid_argument` if after_seq is
//                                               ahead of the visit.
//   (unsubscribe_atom, subscriber)           -> nothing more is sent to it.
//   (subscriber_ack_atom, subscriber, seq)   -> the subscriber has processed messages up to seq.
//   (get_state_atom)                         -> the state (acknowledged events only).
//   (compact_atom)                           -> when idle (no subscriber, nothing queued or in
//                                               flight) and a store is configured, the actor keeps
//                                               its state as encoded bytes and forgets its history
//                                               until the next message (bench/run.sh actors).
//   (passivate_atom)                         -> passivation; when idle (or ended) the actor stops
//                                               after replying (its state is durable already).
//
// A subscriber (`visit_subscriber`) receives, in order: at most one snapshot, then event batches
// without gaps or duplicates. It has `max_unacked_messages` of credit: a subscriber with that
// many messages unacknowledged when another is due is sent `subscriber_dropped` ("too slow") and
// forgotten; it may resume after the `last_seq` named there. Subscribing (or resuming) again
// with the same handle restarts its stream from there. Subscribers are monitored and removed
// when they exit. When the actor fails (an exception) its subscribers are sent
// `subscriber_dropped` ("visit restarted") and pending requesters an `unavailable` error.
//
// The actor arms one timer for `domain::expires_at` and, when it fires, expires the visit (or
// re-arms if activity moved the deadline): CAF 0.17 cannot cancel a delayed message, so it never
// keeps more than one pending timer per deadline it has moved earlier.
//
// With a `tenant_board` in its environment, the actor sends it the visit's summary whenever the
// status or the lobby/presence counts change; with a `write_back_sink`, it sends it the
// write-back items of each append once durable (the outbox rebuilds them from the events).

#include "actors/expiry_scheduler.hpp"
#include "actors/messages.hpp"
#include "actors/tenant_board.hpp"
#include "actors/visit_loader.hpp"
#include "actors/write_back_sink.hpp"
#include "domain/events.hpp"
#include "domain/time.hpp"
#include "domain/visit.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace visitd::storage {
class journal;
class store;
}  // namespace visitd::storage

namespace visitd::actors {

/// What a visit actor pushes to its subscribers (see the file comment).
using visit_subscriber =
  caf::typed_actor<caf::reacts_to<snapshot_atom, domain::visit_state>,
                   caf::reacts_to<events_atom, visit_events>,
                   caf::reacts_to<subscriber_dropped_atom, subscriber_dropped>>;

using compact_atom = caf::atom_constant<caf::atom("vcompact")>;
using passivate_atom = caf::atom_constant<caf::atom("vpassive")>;

/// The answer to a passivation request.
struct passivation {
  bool stopped = false;  ///< False: the visit is busy (subscribers, commands) and stays.
  bool ended = false;
  /// When the visit must be woken to expire (nullopt once ended).
  std::optional<domain::timestamp> expires_at;
};

/// The visit actor's public interface (see the file comment).
using visit_actor = caf::typed_actor<
  caf::replies_to<domain::command>::with<command_reply>,
  caf::replies_to<subscribe_atom, visit_subscriber>::with<std::uint64_t>,
  caf::replies_to<resume_atom, visit_subscriber, std::uint64_t>::with<std::uint64_t>,
  caf::reacts_to<unsubscribe_atom, visit_subscriber>,
  caf::reacts_to<subscriber_ack_atom, visit_subscriber, std::uint64_t>,
  caf::replies_to<get_state_atom>::with<domain::visit_state>, caf::reacts_to<compact_atom>,
  caf::replies_to<passivate_atom>::with<passivation>>;

/// Bounds of one visit actor; all of them cap memory or waiting.
struct visit_actor_limits {
  /// Messages a subscriber may leave unacknowledged before it is dropped as too slow.
  std::size_t max_unacked_messages = 64;
  /// Commands waiting behind an in-flight append; more are refused with `unavailable`.
  std::size_t max_queued_commands = 256;
  /// Recent events kept in memory (for resuming subscribers and the report at the end); older
  /// ones are read back from the store when needed.
  std::size_t max_history_events = 1024;
  /// How long a requester waits for the journal before getting `timeout`. The actor itself keeps
  /// waiting for the acknowledgement (the journal always gives one), because until then it cannot
  /// know whether the events are durable.
  std::chrono::milliseconds append_timeout{5000};
  /// A command that waited longer than this behind other appends is answered `timeout` without
  /// being decided: its requester has most likely given up (requests time out after ~2 s by
  /// default, runtime_options::request_timeout), and executing it later would surprise them.
  std::chrono::milliseconds max_queue_wait{2000};
  /// How long a re-activated actor waits for its state from the loader before giving up.
  std::chrono::milliseconds load_timeout{10000};
};

/// The time source of a visit actor (the domain never reads a clock; tests pass a fake one).
using clock_function = std::function<domain::timestamp()>;

/// What every visit actor of a tenant shares (one allocation for all of them).
struct visit_environment {
  domain::visit_policy policy;
  /// Where events are appended. Must outlive the actors.
  storage::journal* journal = nullptr;
  /// Read (blocking, rarely) for events no longer in memory. May be null when actors always hold
  /// every event (then they never compact); must outlive the actors otherwise.
  const storage::store* store = nullptr;
  clock_function clock;
  visit_actor_limits limits;
  tenant_board board;   ///< Told about summary changes; may be null.
  visit_loader loader;  ///< Needed only by spawn_visit_actor_from_store.
  /// Told the write-back items of every durable append (may be null: the outbox has them).
  write_back_sink write_back;
  /// Arm the expiry timer (tests that drive CAF's clock by hand may turn it off).
  bool expiry_timer = true;
  /// Where the expiry deadline goes when set (the directory shares one among all visits);
  /// otherwise each actor arms a CAF timer of its own (~250 bytes per idle actor more).
  expiry_scheduler expiry;
};

/// Everything a visit actor starts from (the one-off form: its own environment).
struct visit_actor_args {
  /// The current state, e.g. `fold(info, events)` from recovery, or `initial_state(info)`.
  domain::visit_state state;
  /// The last events of the visit, ending at `state.last_seq` (any suffix, possibly empty: what
  /// is missing is read from `store` when needed).
  std::vector<domain::event_envelope> history;
  domain::visit_policy policy;
  storage::journal* journal = nullptr;
  const storage::store* store = nullptr;
  clock_function clock;
  visit_actor_limits limits;
  bool expiry_timer = true;
};

/// Spawns the actor of one live visit. Precondition: `args.journal` and `args.clock` are set.
[[nodiscard]] visit_actor spawn_visit_actor(caf::actor_system& system, visit_actor_args args);

/// Spawns the actor of one live visit from a known state (recovery, a new visit), sharing `env`.
/// Precondition: `env->journal` and `env->clock` are set.
[[nodiscard]] visit_actor spawn_visit_actor(caf::actor_system& system,
                                            std::shared_ptr<const visit_environment> env,
                                            domain::visit_state state,
                                            std::vector<domain::event_envelope> history);

/// Spawns the actor of a visit whose state is in the store (re-activation after passivation, or
/// restart after a failure): it loads the visit through `env->loader` before handling any
/// message (they wait in its mailbox). `after_failure`: the loader first waits until the journal
/// has committed everything queued, so an append the failed actor left in flight is seen. If the
/// load fails the actor stops with the load's error.
[[nodiscard]] visit_actor spawn_visit_actor_from_store(caf::actor_system& system,
                                                       std::shared_ptr<const visit_environment> env,
                                                       domain::visit_id visit, bool after_failure);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::passivation)
