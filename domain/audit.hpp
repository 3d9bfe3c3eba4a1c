#pragma once

// The admin audit log: who changed what in the portal, when, and the record before and after.
// Entries are filed per tenant; the operator's box-level actions (creating or suspending a
// tenant, box settings) are filed under the reserved tenant id `box_tenant()` (tenant.hpp), which
// no organization can use, so they share the per-tenant key layout and retention.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace visitd::domain {

inline constexpr std::size_t max_audit_action_bytes = 64;
inline constexpr std::size_t max_audit_target_bytes = 256;
/// Bounds each snapshot so one entry stays a small RocksDB value; a record that large is a bug.
inline constexpr std::size_t max_audit_snapshot_bytes = std::size_t{64} * 1024;

/// One audited change. Invariants kept by `make_audit_entry`.
struct audit_entry {
  tenant_id tenant;    ///< The tenant concerned, or `box_tenant()` for box-level actions.
  account_id actor;    ///< The portal account that acted.
  std::string action;  ///< What was done, e.g. `endpoint.approve`: 1..64 of `[a-z._-]`.
  std::string target;  ///< What it was done to, e.g. `ep-1`; may be empty; up to 256 bytes.
  timestamp at;        ///< When; not before 1970 (the store keys entries by unsigned time).
  std::string before;  ///< The record before the change (JSON from the portal API; opaque here).
  std::string after;   ///< The record after the change; empty when it was removed.

  friend bool operator==(const audit_entry&, const audit_entry&) = default;
};

/// Validates and returns an audit entry. `invalid_argument` naming the field for an empty
/// tenant or actor, an action that is empty, longer than 64 bytes or has characters outside
/// `[a-z._-]`, a target longer than 256 bytes or with control characters (it is shown in logs
/// and pages as is), a time before 1970, or `before`/`after` longer than 64 KiB each.
/// `before` and `after` are otherwise not interpreted.
[[nodiscard]] result<audit_entry> make_audit_entry(tenant_id tenant, account_id actor,
                                                   std::string_view action, std::string_view target,
                                                   timestamp at, std::string before,
                                                   std::string after);

}  // namespace visitd::domain
