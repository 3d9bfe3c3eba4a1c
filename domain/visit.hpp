#pragma once

// An event-sourced visit: `decide` turns a command into events (or refuses it), `apply` folds one
// event into the state. The live state is always the fold of the visit's events, so the journal
// is the only source of truth and recovery is `fold(info, events)`.
//
// Lifecycle: scheduled -> open (first participant joined) -> in_progress (staff and a
// patient/guest present together, `visit_started` emitted once) -> ended (last connected
// participant left after in_progress, ended by a provider, or expired). Nothing is accepted after
// ended.
//
// "Present" means admitted and connected on at least one device. Staff (providers) are admitted
// on registration and never lobbied; patients and guests enter the lobby and wait there, in
// arrival order, until staff admit them. A lobby participant whose devices all drop keeps their
// place in the queue (a flaky network should not cost them their turn).

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace visitd::domain {

/// What a visit is about, fixed when it is created (not an event: it is the fold's seed).
struct visit_info {
  visit_id id;
  tenant_id tenant;
  endpoint_id endpoint;
  std::optional<fhir_reference> appointment;  ///< `Appointment/...`
  std::optional<fhir_reference> encounter;    ///< `Encounter/...`
  std::optional<department_id> department;
  timestamp scheduled_start{};
  friend bool operator==(const visit_info&, const visit_info&) = default;
};

/// Validates and returns a `visit_info`: at least one of `appointment` and `encounter` is
/// required, and each must reference the right resource type (`Appointment/…`, `Encounter/…`).
[[nodiscard]] result<visit_info> make_visit_info(visit_id id, tenant_id tenant,
                                                 endpoint_id endpoint,
                                                 std::optional<fhir_reference> appointment,
                                                 std::optional<fhir_reference> encounter,
                                                 std::optional<department_id> department,
                                                 timestamp scheduled_start);

/// Tunables of the visit rules (per tenant or per box; passed to `decide`).
struct visit_policy {
  /// An admitted patient/guest whose devices all dropped and who rejoins within this time goes
  /// straight back in; later, they wait in the lobby again.
  duration rejoin_grace = std::chrono::minutes{2};
  /// When true, everyone waiting in the lobby is admitted when a provider connects.
  bool auto_admit_on_provider_join = false;
  /// A visit with nobody connected expires this long after its last event (or its scheduled
  /// start, whichever is later).
  duration idle_timeout = std::chrono::minutes{30};
  /// A visit expires this long after its scheduled start whatever happens.
  duration max_duration = std::chrono::hours{12};
};

enum class visit_status : std::uint8_t { scheduled, open, in_progress, ended };

/// Where a participant stands with respect to the lobby.
enum class admission : std::uint8_t {
  none,      ///< Registered, not yet placed (transient within one `decide`).
  lobby,     ///< Waiting to be admitted.
  admitted,  ///< In the visit (staff always are).
  denied,    ///< Refused by staff; may not rejoin.
};

/// The last device check reported for a device.
struct device_check {
  bool camera_ok = false;
  bool microphone_ok = false;
  bool speaker_ok = false;
  timestamp at{};
  friend bool operator==(const device_check&, const device_check&) = default;
};

/// One device of a participant.
struct device_state {
  bool connected = false;
  std::optional<timestamp> last_change;  ///< When it last connected or disconnected.
  std::optional<device_check> last_check;
  friend bool operator==(const device_state&, const device_state&) = default;
};

/// One participant of a visit.
struct participant_state {
  participant_role role{};
  participant_identity identity;
  admission status = admission::none;
  std::map<device_id, device_state> devices;
  std::optional<timestamp> first_lobby_at;  ///< First lobby entry (for the report's wait).
  std::optional<timestamp> admitted_at;     ///< Latest admission.
  std::optional<timestamp> last_left_at;    ///< When its last connected device last dropped.

  /// True when at least one device is connected.
  [[nodiscard]] bool connected() const noexcept;
  /// True when admitted and connected.
  [[nodiscard]] bool present() const noexcept;
  [[nodiscard]] bool is_staff() const noexcept { return role == participant_role::provider; }

  friend bool operator==(const participant_state&, const participant_state&) = default;
};

/// The live state of a visit: the fold of its events over `info`.
struct visit_state {
  visit_info info;
  visit_status status = visit_status::scheduled;
  std::uint64_t last_seq = 0;  ///< seq of the last applied event; 0 before any.
  std::optional<timestamp> last_event_at;
  std::optional<timestamp> opened_at;
  std::optional<timestamp> started_at;
  std::optional<timestamp> ended_at;
  std::optional<end_reason> ended_because;
  std::map<participant_id, participant_state> participants;
  std::vector<participant_id> lobby;  ///< Waiting participants, in order of (re-)entry.

  friend bool operator==(const visit_state&, const visit_state&) = default;
};

/// The state of a visit before any event.
[[nodiscard]] visit_state initial_state(visit_info info);

// -- commands ----------------------------------------------------------------------------------

namespace cmd {

/// A participant's device joins (first join registers the participant with role and identity).
struct join {
  participant_id participant;
  device_id device;
  participant_role role{};
  participant_identity identity;
};
/// A device leaves (or its connection was lost).
struct leave {
  participant_id participant;
  device_id device;
};
/// Staff `by` admits one lobby participant, connected or not (one who dropped goes straight in
/// on returning within `visit_policy::rejoin_grace` of the admission).
struct admit {
  participant_id by;
  participant_id participant;
};
/// Staff `by` admits everyone in the lobby, in queue order.
struct admit_all {
  participant_id by;
};
/// Staff `by` refuses a lobby participant; their devices are disconnected.
struct deny {
  participant_id by;
  participant_id participant;
  deny_reason reason{};
};
/// Staff `by` sends an admitted patient/guest back to the end of the lobby queue.
struct return_to_lobby {
  participant_id by;
  participant_id participant;
};
/// Staff `by` writes to one lobby participant (`to`) or to the whole lobby.
struct send_lobby_message {
  participant_id by;
  std::optional<participant_id> to;
  std::string text;
};
/// Staff `by` ends the visit for everyone.
struct end {
  participant_id by;
};
/// The visit's timer fired: ends it if `expires_at` has passed.
struct expire {};
/// A registered participant reports a device check.
struct report_device_test {
  participant_id participant;
  device_id device;
  bool camera_ok = false;
  bool microphone_ok = false;
  bool speaker_ok = false;
};

}  // namespace cmd

using command =
  std::variant<cmd::join, cmd::leave, cmd::admit, cmd::admit_all, cmd::deny, cmd::return_to_lobby,
               cmd::send_lobby_message, cmd::end, cmd::expire, cmd::report_device_test>;

// -- decide / apply ----------------------------------------------------------------------------

/// Decides what `cmd` does to `state` at `now`: the events to append, numbered from
/// `state.last_seq + 1` and stamped `max(now, state.last_event_at)` (so event time never runs
/// backwards), or an error and no events. Errors: `conflict` when the visit's state does not
/// allow it (ended, device already connected, not in the lobby, not yet expired, ...);
/// `forbidden` when a non-staff participant issues a staff command or a denied participant
/// rejoins; `not_found` for an unknown participant; `invalid_argument` for a bad role/identity
/// pair or message text. The caller persists the events, then `apply`s them.
[[nodiscard]] result<std::vector<event_envelope>> decide(const visit_state& state,
                                                         const command& cmd, timestamp now,
                                                         const visit_policy& policy);

/// Folds one event into `state`. Precondition: `event.seq == state.last_seq + 1` (see `fold`).
/// Events naming unknown participants are ignored rather than trusted.
void apply(visit_state& state, const event_envelope& event);

/// Rebuilds a visit from its journal; `invalid_argument` if the seq numbers are not 1, 2, 3, ...
[[nodiscard]] result<visit_state> fold(visit_info info, std::span<const event_envelope> events);

// -- queries -----------------------------------------------------------------------------------

/// The 1-based position of `participant` in the lobby queue, or nullopt when not waiting.
[[nodiscard]] std::optional<std::size_t> lobby_position(const visit_state& state,
                                                        const participant_id& participant);

/// When `cmd::expire` will be accepted: the earlier of `scheduled_start + max_duration` and,
/// while nobody is connected, `max(scheduled_start, last event) + idle_timeout`. Nullopt once
/// ended.
[[nodiscard]] std::optional<timestamp> expires_at(const visit_state& state,
                                                  const visit_policy& policy);

/// The number of participants present (admitted and connected) now.
[[nodiscard]] std::size_t present_count(const visit_state& state);

[[nodiscard]] std::string_view to_string(visit_status status) noexcept;

}  // namespace visitd::domain
