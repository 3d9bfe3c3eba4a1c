#pragma once

// The admin audit log in the `audit` column: one entry per portal change, keyed
// tenant | time | sequence (docs/storage.md), so one tenant's entries read back in time order
// and retention trims a tenant with one range delete.

#include "domain/audit.hpp"
#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "storage/store.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace visitd::storage {

/// Hands out the sequence numbers that keep two entries of one tenant in the same microsecond
/// apart. One per process, shared by every writer of the audit log. Thread-safe.
class audit_sequence {
public:
  /// Starts at a random value: the counter restarts with the process, and if the clock stepped
  /// back across a restart, a new entry could otherwise land on an old entry's key and replace
  /// it. With a random start that needs the same microsecond and a 1 in 2^32 draw.
  audit_sequence();
  /// Starts at `first` (tests).
  explicit audit_sequence(std::uint32_t first) noexcept : next_(first) {}

  [[nodiscard]] std::uint32_t next() noexcept {
    return next_.fetch_add(1, std::memory_order_relaxed);
  }

private:
  std::atomic<std::uint32_t> next_;
};

/// The op that appends `entry` with sequence `seq` (from `audit_sequence::next`). Append it in
/// the same journal group as the change it records, so neither exists without the other.
/// Precondition: `entry` is valid as `make_audit_entry` returns it (in particular not before
/// 1970). Two entries with the same tenant, microsecond and sequence share a key: the later
/// write replaces the earlier.
[[nodiscard]] std::vector<write_op> audit_ops(const domain::audit_entry& entry, std::uint32_t seq);

/// Appends the op of `entry`, sequenced by `sequence`, to the ops of the change it records, so
/// both are written in one group.
void add_audit_op(std::vector<write_op>& ops, const domain::audit_entry& entry,
                  audit_sequence& sequence);

/// Reads the entries of `tenant` (or `domain::box_tenant()`) with `from` <= at < `to`, oldest
/// first (same microsecond: by sequence), at most `limit` of them. Times before 1970 count as
/// 1970. Fails with storage_failure naming the key when a stored entry does not decode, its key
/// is malformed, or the entry's tenant or time differ from its key.
[[nodiscard]] domain::result<std::vector<domain::audit_entry>> read_audit(
  const store& source, const domain::tenant_id& tenant, domain::timestamp from,
  domain::timestamp to, std::size_t limit);

/// Microseconds since 1970 of `t` as the audit key stores them; 0 for earlier times.
[[nodiscard]] std::uint64_t audit_micros(domain::timestamp t) noexcept;

}  // namespace visitd::storage
