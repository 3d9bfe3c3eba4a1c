#pragma once

// A visit's durable record: its events (the source of truth: state = fold(events)) and, written
// in the same atomic group, the outbox entries that drive EHR write-back, so there is never an
// event without its outbox entry nor an entry without its event.

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "domain/visit.hpp"
#include "domain/write_back.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace visitd::storage {

/// The ops that append `events` to a visit whose state before them is `before`: one `events` put
/// per event and one `outbox` put per write-back item they cause (domain::write_back_items:
/// connects, disconnects, a patient's lobby entry, visit start and end, device tests), keyed
/// under the visit's tenant and endpoint. Append them as ONE journal group.
[[nodiscard]] std::vector<write_op> event_ops(const domain::visit_state& before,
                                              std::span<const domain::event_envelope> events);
/// The same with the items already computed (`domain::write_back_items(before, events)`), for a
/// caller that keeps them.
[[nodiscard]] std::vector<write_op> event_ops(const domain::visit_info& visit,
                                              std::span<const domain::event_envelope> events,
                                              std::span<const domain::write_back_item> items);

/// Reads the events of `visit` with seq > `after`, in sequence order. Fails with
/// storage_failure if a stored event does not decode or the sequence has a gap (the store is
/// then corrupt, and nothing is guessed).
[[nodiscard]] domain::result<std::vector<domain::event_envelope>> read_events(
  const store& source, const domain::visit_id& visit, std::uint64_t after = 0);

}  // namespace visitd::storage
