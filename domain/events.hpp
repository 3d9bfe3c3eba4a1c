#pragma once

// The typed events of one visit. A visit's live state is always the fold of these events
// (`visit.hpp`), and the report (`report.hpp`) is computed from them alone, so every fact either
// needs must be in an event. Events carry only opaque ids and EHR user ids: no names, no health
// data.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace visitd::domain {

/// What a participant is in the visit. Providers are staff: never lobbied, and the only role
/// that may admit, deny, return to the lobby, message the lobby or end the visit.
enum class participant_role : std::uint8_t { provider, patient, guest };

/// How a participant is identified: a provider by the EHR user id from the launch (`fhirUser`);
/// a patient by either an EHR user id (portal launch) or the join link's id; a guest by a join id.
using participant_identity = std::variant<ehr_user_id, join_id>;

/// Why staff denied a lobby participant. Codes, never free text, so no personal data leaks.
enum class deny_reason : std::uint8_t { unspecified, not_expected, duplicate, wrong_visit };

/// Why a visit ended.
enum class end_reason : std::uint8_t { last_left, ended_by_provider, timeout };

/// Lobby messages are staff-written text; this caps their size in bytes.
inline constexpr std::size_t max_lobby_message_bytes = 500;

/// Returns `invalid_argument` unless `text` is 1..`max_lobby_message_bytes` bytes without control
/// characters other than newline and tab.
[[nodiscard]] result<void> validate_lobby_message(std::string_view text);

// -- events ------------------------------------------------------------------------------------

/// A participant was registered with its role and identity (first join).
struct participant_joined {
  participant_id participant;
  participant_role role{};
  participant_identity identity;
  friend bool operator==(const participant_joined&, const participant_joined&) = default;
};

/// A patient or guest was put at the end of the lobby queue.
struct lobby_entered {
  participant_id participant;
  friend bool operator==(const lobby_entered&, const lobby_entered&) = default;
};

/// A lobby participant was admitted; `by` is the staff member, or empty when automatic
/// (`visit_policy::auto_admit_on_provider_join`).
struct admitted {
  participant_id participant;
  std::optional<participant_id> by;
  friend bool operator==(const admitted&, const admitted&) = default;
};

/// A lobby participant was refused by staff and removed from the lobby for good.
struct denied {
  participant_id participant;
  participant_id by;
  deny_reason reason{};
  friend bool operator==(const denied&, const denied&) = default;
};

/// An admitted patient/guest was sent back to the lobby; `by` is empty when it happened because
/// the participant rejoined after `visit_policy::rejoin_grace`.
struct returned_to_lobby {
  participant_id participant;
  std::optional<participant_id> by;
  friend bool operator==(const returned_to_lobby&, const returned_to_lobby&) = default;
};

/// One device of a participant connected.
struct connected {
  participant_id participant;
  device_id device;
  friend bool operator==(const connected&, const connected&) = default;
};

/// One device of a participant disconnected (left, lost, or was dropped by deny/end).
struct disconnected {
  participant_id participant;
  device_id device;
  friend bool operator==(const disconnected&, const disconnected&) = default;
};

/// Staff and a patient/guest were present together for the first time. Emitted once per visit.
struct visit_started {
  friend bool operator==(const visit_started&, const visit_started&) = default;
};

/// The visit ended; no command is accepted afterwards.
struct visit_ended {
  end_reason reason{};
  friend bool operator==(const visit_ended&, const visit_ended&) = default;
};

/// Staff wrote to the lobby: to one participant (`to`) or to everyone waiting.
struct lobby_message {
  participant_id from;
  std::optional<participant_id> to;
  std::string text;
  friend bool operator==(const lobby_message&, const lobby_message&) = default;
};

/// The outcome of a participant's camera/microphone/speaker check on one device.
struct device_test_result {
  participant_id participant;
  device_id device;
  bool camera_ok = false;
  bool microphone_ok = false;
  bool speaker_ok = false;
  friend bool operator==(const device_test_result&, const device_test_result&) = default;
};

/// Any visit event. The index order is part of the stored format (`event_codec.hpp`): append only.
using visit_event =
  std::variant<participant_joined, lobby_entered, admitted, denied, returned_to_lobby, connected,
               disconnected, visit_started, visit_ended, lobby_message, device_test_result>;

/// An event with its position in the visit's journal: `seq` is 1 for the first event and gapless.
struct event_envelope {
  std::uint64_t seq = 0;
  timestamp at{};
  visit_event event;
  friend bool operator==(const event_envelope&, const event_envelope&) = default;
};

/// The snake_case name of the event's type, e.g. "lobby_entered" (for logs and the event API).
[[nodiscard]] std::string_view event_name(const visit_event& event) noexcept;

[[nodiscard]] std::string_view to_string(participant_role role) noexcept;
[[nodiscard]] std::string_view to_string(deny_reason reason) noexcept;
[[nodiscard]] std::string_view to_string(end_reason reason) noexcept;

}  // namespace visitd::domain
