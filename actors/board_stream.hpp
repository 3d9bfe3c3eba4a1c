#pragma once

// A tenant's live board ("my visits today") for code outside the actor system (a WebSocket):
// the sink receives a snapshot of every visit matching its department filter, then each change,
// in board order, on a CAF thread. Plain types only, so http/ can implement it.

#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "domain/visit.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace visitd::actors {

/// What a tenant-wide view shows of one visit (no participant identities).
struct visit_summary {
  domain::visit_id visit;
  std::optional<domain::department_id> department;
  domain::timestamp scheduled_start{};
  domain::visit_status status = domain::visit_status::scheduled;
  std::uint32_t lobby = 0;    ///< Waiting in the lobby.
  std::uint32_t present = 0;  ///< Admitted and connected.
  std::uint64_t last_seq = 0;
  friend bool operator==(const visit_summary&, const visit_summary&) = default;
};

class board_stream_sink {
public:
  virtual ~board_stream_sink() = default;
  /// Every visit matching the filter, current at board seq `seq`.
  virtual void on_snapshot(std::uint64_t seq, const std::vector<visit_summary>& visits) = 0;
  /// One visit's new summary; seqs increase (a filtered view sees a subset of them).
  virtual void on_update(std::uint64_t seq, const visit_summary& visit) = 0;
  /// The board stopped serving this stream ("too slow", "tenant restarted"): subscribe again
  /// for a fresh snapshot.
  virtual void on_dropped(const std::string& reason) = 0;
};

}  // namespace visitd::actors
