#pragma once

// A live view of one visit for code outside the actor system (a WebSocket): the sink receives
// the snapshot (or, when resuming, nothing) and then every later event in order, without gaps or
// duplicates, on a CAF thread. Plain types only, so http/ can implement it.

#include "domain/events.hpp"
#include "domain/visit.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace visitd::actors {

class visit_stream_sink {
public:
  virtual ~visit_stream_sink() = default;
  virtual void on_snapshot(const domain::visit_state& state) = 0;
  virtual void on_events(const std::vector<domain::event_envelope>& events) = 0;
  /// The visit stopped serving this stream ("too slow", "visit restarted", "visit ended"):
  /// resume after `last_seq` with a new subscription.
  virtual void on_dropped(const std::string& reason, std::uint64_t last_seq) = 0;
};

/// Ends a subscription (idempotent; also ended when the handle is destroyed).
class visit_stream {
public:
  virtual ~visit_stream() = default;
  virtual void cancel() = 0;
};

}  // namespace visitd::actors
