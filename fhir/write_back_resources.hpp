#pragma once

// The FHIR R4 resources visitd writes back (domain/write_back.hpp says which, when), built and
// merged here, free of any I/O:
// - an AuditEvent per connect, disconnect and device test, carrying the event key as a
//   `meta.tag` (R4 AuditEvent has no identifier) and, for update-as-create servers, a resource
//   id derived from it;
// - merges of an item into the EHR's current Encounter or Appointment. A merge keeps every member
//   it does not own, and is monotonic (a status only moves forward, a period start only earlier
//   and its end only later), so merging an item twice, or items out of order, gives the same
//   resource; nullopt means the resource already says it all and nothing is written.
//
// JSON input is parsed with simdjson; output is written with Boost.JSON.

#include "domain/error.hpp"
#include "domain/write_back.hpp"
#include "domain/write_back_policy.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace visitd::fhir {

/// The `meta.tag` system of event keys.
inline constexpr std::string_view event_key_system = "urn:visitd:event-key";
/// The identifier system of participants without an EHR identity (join-link patients, guests).
inline constexpr std::string_view participant_system = "urn:visitd:participant";

/// The deterministic AuditEvent id of an item: "vd-" + 40 hex digits of SHA-256(event key) (a
/// valid FHIR id, the same for every retry).
[[nodiscard]] std::string audit_event_id(const domain::write_back_item& item);

/// `_tag=<event_key_system>|<event key>`, URL-encoded as a query (for If-None-Exist).
[[nodiscard]] std::string event_key_query(const domain::write_back_item& item);

/// The AuditEvent for a connected, disconnected or device_test item (JSON text), coded with the
/// tenant's `codes` (domain/write_back_policy.hpp). `with_id` sets
/// `id` to `audit_event_id` (for PUT). `observer` is what `source.observer.display` names (the
/// box's public URL). Precondition: the item is one of those kinds and has a participant.
[[nodiscard]] std::string audit_event_json(const domain::write_back_item& item,
                                           const domain::audit_event_codes& codes,
                                           std::string_view observer, bool with_id);

/// Merges `item` into the Encounter `current` (JSON text as read from the EHR):
/// - visit_started: status `in-progress` (unless already finished/cancelled/entered-in-error),
///   `class` VR (v3 ActCode "virtual") when absent, period.start = min(existing, at);
/// - visit_ended: status `finished` (unless cancelled/entered-in-error), period.end =
///   max(existing, at) and period.start = min(existing, started_at) when it started;
/// - connected/disconnected of staff with an EHR identity: the `participant` entry whose
///   `individual.reference` is the user gets period.start = min(existing, at) on connect and
///   period.end = max(existing, at) on disconnect (added when missing).
/// nullopt when nothing changes. `invalid_argument` when `current` is not an Encounter.
[[nodiscard]] domain::result<std::optional<std::string>> merge_encounter(
  std::string_view current, const domain::write_back_item& item);

/// Merges `item` into the Appointment `current`:
/// - lobby_entered of a patient: status `arrived` when booked/pending/proposed;
/// - visit_ended: `fulfilled` when the visit was completed, `noshow` when it was a no-show (the
///   report's rules; other outcomes are never planned), unless already fulfilled, noshow,
///   cancelled or entered-in-error.
/// nullopt when nothing changes. `invalid_argument` when `current` is not an Appointment.
[[nodiscard]] domain::result<std::optional<std::string>> merge_appointment(
  std::string_view current, const domain::write_back_item& item);

}  // namespace visitd::fhir
