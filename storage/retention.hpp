#pragma once

// Retention: the raw events of ended visits are kept for a configurable number of days, then
// removed (their report row stays); report rows have their own, longer retention. Removal uses
// range deletes (one tombstone per visit or tenant), which compaction then drops.

#include "domain/error.hpp"
#include "domain/time.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <cstddef>

namespace visitd::storage {

struct retention_policy {
  std::chrono::days ended_visit_events{30};  ///< After a visit ends.
  std::chrono::days report_rows{730};        ///< After the visit's day.
};

struct retention_outcome {
  std::size_t visits_purged = 0;         ///< Ended visits whose events were removed.
  std::size_t tenants_with_reports = 0;  ///< Tenants whose old report rows were range-deleted.
};

/// Applies `policy` as of `now`. Safe to run at any time and repeatedly (idempotent); each
/// visit's purge is one atomic write (events removed and header marked), so a crash midway
/// leaves every visit either purged or intact. Run it from a low-priority context: it scans
/// every visit header.
[[nodiscard]] domain::result<retention_outcome> apply_retention(store& target,
                                                                domain::timestamp now,
                                                                const retention_policy& policy);

}  // namespace visitd::storage
