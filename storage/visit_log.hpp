#pragma once

// A visit's durable record: its events, the source of truth (state = fold(events)). The
// write-back items they cause are not written with them: the outbox rebuilds them from the
// events after the visit's cursor (storage/outbox.hpp).

#include "domain/error.hpp"
#include "domain/events.hpp"
#include "domain/ids.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace visitd::storage {

/// The ops that append `events` to `visit`: one `events` put per event. Append them as ONE
/// journal group (with the visit's close when they end it).
[[nodiscard]] std::vector<write_op> event_ops(const domain::visit_id& visit,
                                              std::span<const domain::event_envelope> events);

/// Reads the events of `visit` with seq > `after`, in sequence order. Fails with
/// storage_failure if a stored event does not decode or the sequence has a gap (the store is
/// then corrupt, and nothing is guessed).
[[nodiscard]] domain::result<std::vector<domain::event_envelope>> read_events(
  const store& source, const domain::visit_id& visit, std::uint64_t after = 0);

}  // namespace visitd::storage
