#pragma once

// The atoms and message types the visit actor and its subscribers exchange, and the one mapping
// between domain errors and `caf::error`.
//
// Message types are registered with CAF_ALLOW_UNSAFE_MESSAGE_TYPE rather than given `inspect`
// overloads: visitd has no remote actors and never serializes messages through CAF (events are
// persisted by storage/ with their own codec), so local-only types are the lighter correct
// option. It also keeps the domain headers free of CAF (no inspectors to write next to them).
// Should a type ever need to cross a process boundary, give it an `inspect` overload and
// `cfg.add_message_type<T>("name")` instead; CAF would then refuse to serialize the unsafe one.

#include "actors/wall_clock.hpp"
#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "domain/visit.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace visitd::actors {

// -- atoms (CAF 0.17: at most 10 characters) ---------------------------------------------------

/// Subscribe with a snapshot of the current state, then live events.
using subscribe_atom = caf::atom_constant<caf::atom("vsubscribe")>;
/// Subscribe after a known seq: the missed events, then live events (no snapshot).
using resume_atom = caf::atom_constant<caf::atom("vresume")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("vunsub")>;
/// A subscriber acknowledges every message up to and including a seq (returns credit).
using subscriber_ack_atom = caf::atom_constant<caf::atom("vsuback")>;
using get_state_atom = caf::atom_constant<caf::atom("vgetstate")>;
/// Pushed to subscribers: the state at subscription.
using snapshot_atom = caf::atom_constant<caf::atom("vsnapshot")>;
/// Pushed to subscribers: events in seq order.
using events_atom = caf::atom_constant<caf::atom("vevents")>;
/// Pushed to a subscriber that is no longer subscribed (too slow).
using subscriber_dropped_atom = caf::atom_constant<caf::atom("vdropped")>;

// -- message types -----------------------------------------------------------------------------

/// The reply to a command: the events it appended (durable and applied) and the visit's last seq
/// afterwards.
struct command_reply {
  std::uint64_t last_seq = 0;
  std::vector<domain::event_envelope> events;
};

/// A run of consecutive events of one visit, pushed to subscribers. `events` is never empty;
/// `events.back().seq` is the seq a subscriber acknowledges.
struct visit_events {
  domain::visit_id visit;
  std::vector<domain::event_envelope> events;
};

/// Sent to a subscriber the visit actor stops serving. `last_seq` is the last event it was sent:
/// resuming after it (`resume_atom`) continues without a gap.
struct subscriber_dropped {
  domain::visit_id visit;
  std::string reason;  ///< "too slow": it let `max_unacked_messages` messages pile up.
  std::uint64_t last_seq = 0;
};

// -- time ------------------------------------------------------------------------------------

// -- errors ------------------------------------------------------------------------------------

/// The CAF error category of domain errors.
inline constexpr caf::atom_value domain_error_category = caf::atom("visitd");

/// A `caf::error` carrying `err`: code `errc + 1` (CAF reserves 0 for "no error") in the
/// `domain_error_category`, with the message as its context.
[[nodiscard]] caf::error to_caf_error(const domain::error& err);

/// `to_caf_error(domain::make_error(code, message))`.
[[nodiscard]] caf::error to_caf_error(domain::errc code, std::string message);

/// The `what()` of the exception in `failure` (for an actor's exception handler), or "unknown
/// exception" for one not derived from std::exception.
[[nodiscard]] std::string exception_message(const std::exception_ptr& failure);

/// The domain error a `caf::error` stands for: the original for a `to_caf_error` error,
/// `timeout` for CAF's request timeout, `unavailable` for anything else (a dead actor, ...).
/// Precondition: `err` is an error (not `caf::none`).
[[nodiscard]] domain::error to_domain_error(const caf::error& err);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::visit_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::visit_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::command_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::visit_events)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::subscriber_dropped)

// Every id type (visit_id, tenant_id, account_id, ...) travels in messages as it is.
namespace caf {
template <class Tag>
struct allowed_unsafe_message_type<visitd::domain::basic_id<Tag>> : std::true_type {};
}  // namespace caf
