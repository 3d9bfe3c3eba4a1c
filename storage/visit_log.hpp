#pragma once

// A visit's durable record: its events (the source of truth: state = fold(events)) and, written
// in the same atomic group, the outbox entries that drive EHR write-back, so there is never an
// event without its outbox entry nor an entry without its event.

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace visitd::storage {

/// Whether an event is written back to the EHR (and so gets an outbox entry): connects,
/// disconnects, lobby entry (Appointment "arrived"), visit start and end, device-test results.
/// Lobby messages, admissions and denials stay in visitd.
[[nodiscard]] bool needs_write_back(const domain::visit_event& event) noexcept;

/// The ops that append `events` of a visit: one `events` put per event and one `outbox` put per
/// event that needs write-back, keyed under `endpoint`. Append them as ONE journal group.
[[nodiscard]] std::vector<write_op> event_ops(const domain::visit_id& visit,
                                              const domain::endpoint_id& endpoint,
                                              std::span<const domain::event_envelope> events);

/// Reads the events of `visit` with seq > `after`, in sequence order. Fails with
/// storage_failure if a stored event does not decode or the sequence has a gap (the store is
/// then corrupt, and nothing is guessed).
[[nodiscard]] domain::result<std::vector<domain::event_envelope>> read_events(
  const store& source, const domain::visit_id& visit, std::uint64_t after = 0);

}  // namespace visitd::storage
