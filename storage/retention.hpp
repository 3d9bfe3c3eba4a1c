#pragma once

// Retention: the raw events of ended visits are kept for a configurable number of days, then
// removed (their report row stays), unless the visit's write-back is still pending: its items
// are rebuilt from the events (storage/outbox.hpp), which then stay until it is done; report rows
// and audit entries have their own, longer retentions. Removal uses range deletes (one tombstone
// per visit or tenant), which compaction then drops.

#include "domain/error.hpp"
#include "domain/time.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <cstddef>

namespace visitd::storage {

struct retention_policy {
  std::chrono::days ended_visit_events{30};  ///< After a visit ends.
  std::chrono::days report_rows{730};        ///< After the visit's day.
  /// After the entry's time. Seven years: the record-keeping period many hospitals apply to
  /// administrative records, and the audit log is what shows who approved which EHR endpoint.
  /// Operators with a different legal period set `retention-audit-days`.
  std::chrono::days audit_entries{2555};
};

struct retention_outcome {
  std::size_t visits_purged = 0;               ///< Ended visits whose events were removed.
  std::size_t visits_kept_for_write_back = 0;  ///< Due, but their write-back is still pending.
  std::size_t tenants_with_reports = 0;  ///< Tenants whose old report rows were range-deleted.
  std::size_t tenants_with_audit = 0;    ///< Tenants (or the box) whose old audit entries went.
};

/// Applies `policy` as of `now`. Safe to run at any time and repeatedly (idempotent); each
/// visit's purge is one atomic write (events removed and header marked), so a crash midway
/// leaves every visit either purged or intact. Run it from a low-priority context: it scans
/// every visit header. Audit entries are trimmed per tenant found in the audit column itself
/// (box-level entries have no tenant record), only for tenants that have an entry older than
/// the cutoff, so repeated passes add no tombstones.
[[nodiscard]] domain::result<retention_outcome> apply_retention(store& target,
                                                                domain::timestamp now,
                                                                const retention_policy& policy);

}  // namespace visitd::storage
