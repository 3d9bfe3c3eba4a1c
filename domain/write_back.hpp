#pragma once

// What visitd writes back to the EHR, decided from a visit's events. Each event that matters to
// the EHR becomes one self-contained `write_back_item` (the outbox keeps only how far a visit's
// items were delivered, and rebuilds the rest from the events after a restart: see
// storage/outbox.hpp), so delivering it never needs the visit's state: it names the visit's
// Encounter and Appointment, the participant's role and EHR identity, and what happened when.
//
// Which FHIR writes an item causes (`planned_writes`):
//   connected / disconnected  AuditEvent (DICOM 110114 user authentication, 110122 login /
//                             110123 logout); for staff with an EHR identity, the Encounter's
//                             participant period too.
//   device_test               AuditEvent (visitd's own "device-test" code).
//   lobby_entered (patient)   Appointment status `arrived`.
//   visit_started             Encounter status `in-progress`, class VR, period start.
//   visit_ended               Encounter status `finished`, period end; Appointment `fulfilled`
//                             when it was completed, `noshow` when it was a no-show (the
//                             report's rules); a cancelled or abandoned visit leaves the
//                             Appointment as the EHR has it. Every ended visit has this
//                             item, and it is its last: it ends the visit's write-back.
// Each write is idempotent and monotonic (statuses only move forward, a period start only moves
// earlier and its end only later), so applying an item twice, or out of order after a retry,
// leaves the EHR as applying it once in order.
//
// Also here, pure and clock-free: the stable event key, the item's stored form, the retry
// schedule and the per-endpoint circuit breaker.

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/report.hpp"
#include "domain/time.hpp"
#include "domain/visit.hpp"
#include "domain/write_back_policy.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

/// What happened, as far as the EHR is concerned.
enum class write_back_kind : std::uint8_t {
  connected,
  disconnected,
  lobby_entered,
  visit_started,
  visit_ended,
  device_test,
};

/// Who an item is about (connects, disconnects, lobby entry, device tests).
struct write_back_participant {
  participant_id id;
  participant_role role{};
  /// The EHR user (`Practitioner/…`, `Patient/…`) when the participant came from an EHR launch;
  /// otherwise their join id, written as an opaque identifier.
  participant_identity identity;
  std::optional<device_id> device;
  friend bool operator==(const write_back_participant&, const write_back_participant&) = default;
};

/// The outcome of a device check (device_test items).
struct write_back_device_check {
  bool camera_ok = false;
  bool microphone_ok = false;
  bool speaker_ok = false;
  friend bool operator==(const write_back_device_check&, const write_back_device_check&) = default;
};

/// One pending write-back: everything needed to deliver it.
struct write_back_item {
  tenant_id tenant;
  endpoint_id endpoint;
  visit_id visit;
  std::uint64_t seq = 0;  ///< The causing event's seq: with tenant and visit, the event key.
  timestamp at{};         ///< The event's time.
  write_back_kind kind{};
  std::optional<fhir_reference> encounter;
  std::optional<fhir_reference> appointment;
  std::optional<write_back_participant> participant;
  std::optional<write_back_device_check> check;  ///< device_test only.
  /// visit_ended only: when the visit started (both sides present), if it did, why it ended,
  /// and its outcome by the report's rules (domain/report.hpp): completed, no_show, cancelled
  /// (nobody joined) or abandoned (a patient waited and was never admitted).
  std::optional<timestamp> started_at;
  std::optional<end_reason> ended_because;
  std::optional<report_status> outcome;
  friend bool operator==(const write_back_item&, const write_back_item&) = default;
};

/// The items caused by `events`, appended to a visit whose state before them is `before`
/// (participants registered within `events` are known too). Events that concern only visitd
/// (lobby messages, admissions, denials, a guest's or provider's lobby entry) cause none.
[[nodiscard]] std::vector<write_back_item> write_back_items(const visit_state& before,
                                                            std::span<const event_envelope> events);

/// The items of a visit's journal `events` (all of them, from seq 1) caused by the events after
/// seq `after`: the same items the appends computed with `write_back_items`. The outbox stores
/// no items, only how far each visit's were delivered, and rebuilds the rest with this.
[[nodiscard]] std::vector<write_back_item> write_back_items_after(
  const visit_info& info, std::span<const event_envelope> events, std::uint64_t after);

/// The stable key of the event behind an item: `{tenant}/{visit}/{seq}`. Unique across the box
/// (visit ids are), and the same however often the item is retried.
[[nodiscard]] std::string event_key(const write_back_item& item);

// -- which writes ------------------------------------------------------------------------------

enum class fhir_write : std::uint8_t {
  audit_event,  ///< Create an AuditEvent.
  encounter,    ///< Read, merge and update the Encounter.
  appointment,  ///< Read, merge and update the Appointment.
};

/// The FHIR writes `item` causes under `targets`, in the order they are made.
[[nodiscard]] std::vector<fhir_write> planned_writes(const write_back_item& item,
                                                     const write_back_targets& targets);

// -- stored form -------------------------------------------------------------------------------

inline constexpr std::uint8_t write_back_format_version = 1;

/// Encodes `item` (binary, versioned; see the codec source for the layout).
[[nodiscard]] std::string encode(const write_back_item& item);
/// Decodes exactly `bytes`; `invalid_argument` for anything `encode` would not have written.
[[nodiscard]] result<write_back_item> decode_write_back(std::string_view bytes);

/// An item the EHR refused for good (or that was given up on), kept until an admin re-drives it.
struct dead_letter {
  write_back_item item;
  std::string reason;  ///< The last attempt's outcome, e.g. "PUT AuditEvent/vd-…: HTTP 400: …".
  std::uint32_t attempts = 0;
  timestamp at{};  ///< When it was dead-lettered.
  friend bool operator==(const dead_letter&, const dead_letter&) = default;
};

/// Encodes a dead letter: u8 version | varint attempts | i64 at | string reason | string item.
[[nodiscard]] std::string encode(const dead_letter& letter);
[[nodiscard]] result<dead_letter> decode_dead_letter(std::string_view bytes);

// -- delivery policy ---------------------------------------------------------------------------

/// What to do after one delivery attempt.
enum class delivery_verdict : std::uint8_t {
  delivered,  ///< Done: the item leaves the outbox.
  retry,      ///< Transient (network, timeout, 429, 5xx, 409/412 after merging): try again.
  permanent,  ///< The EHR refuses it for good (other 4xx): dead-letter it.
};

/// The verdict for an HTTP status of a write (2xx delivered; 408, 409, 412, 425, 429 and 5xx
/// retry; any other status permanent).
[[nodiscard]] delivery_verdict verdict_for_status(int status) noexcept;

struct retry_policy {
  duration first_delay = std::chrono::seconds{1};
  duration max_delay = std::chrono::minutes{5};
  /// Retries at most (then the item is dead-lettered as "gave up"): with the defaults about
  /// three days of trying.
  std::uint32_t max_attempts = 1000;
};

/// The delay before attempt `attempt + 1` after `attempt` failed attempts (attempt >= 1):
/// exponential from `first_delay`, capped at `max_delay`, with "equal jitter" (a uniform draw in
/// [delay/2, delay] from `unit_random` in [0, 1)). A server's `Retry-After` wins when longer.
[[nodiscard]] duration retry_delay(const retry_policy& policy, std::uint32_t attempt,
                                   double unit_random, std::optional<duration> retry_after = {});

/// A per-endpoint circuit breaker: after `failure_threshold` consecutive failed attempts it
/// opens and nothing is sent for `open_for`; then one probe is let through (half-open): success
/// closes it, failure opens it again.
class circuit_breaker {
public:
  enum class state : std::uint8_t { closed, open, half_open };

  struct options {
    std::uint32_t failure_threshold = 5;
    duration open_for = std::chrono::seconds{30};
  };

  circuit_breaker() = default;
  explicit circuit_breaker(options o) : options_(o) {}

  /// May an attempt start at `now`? In half-open state only one probe at a time.
  [[nodiscard]] bool allow(timestamp now);
  void record_success();
  void record_failure(timestamp now);

  [[nodiscard]] state current(timestamp now) const noexcept;
  /// When an open breaker lets the next probe through.
  [[nodiscard]] timestamp opens_until() const noexcept { return open_until_; }

private:
  options options_;
  std::uint32_t consecutive_failures_ = 0;
  bool opened_ = false;
  bool probing_ = false;
  timestamp open_until_{};
};

[[nodiscard]] std::string_view to_string(write_back_kind kind) noexcept;
[[nodiscard]] std::string_view to_string(fhir_write write) noexcept;
[[nodiscard]] std::string_view to_string(circuit_breaker::state s) noexcept;

}  // namespace visitd::domain
