#pragma once

// The durable store as the rest of visitd sees it. Nothing outside storage/ includes RocksDB:
// callers get this interface from `open_rocksdb_store()` (checked by scripts/check-layering.sh).

#include "domain/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::storage {

/// How hard a write is pushed to disk before it is acknowledged.
enum class durability {
  sync,     ///< Every acknowledged write is in the WAL and fsync'ed (default).
  relaxed,  ///< WAL written but not fsync'ed per batch: an OS crash may lose the last writes.
};

/// Parses "sync" or "relaxed".
[[nodiscard]] domain::result<durability> parse_durability(std::string_view text);
[[nodiscard]] std::string_view to_string(durability mode) noexcept;

/// The column families of the store, one per kind of record (docs/storage.md has the key layout).
enum class column : int {
  meta,             ///< Store-wide facts: schema version, creation time.
  tenants,          ///< Tenant records by tenant id.
  endpoints,        ///< FHIR endpoint revisions by tenant id + endpoint id + revision.
  endpoint_by_url,  ///< Index: normalized FHIR base URL -> tenant id + endpoint id.
  accounts,         ///< Local accounts, sessions and API tokens (hashes only).
  visits,           ///< Visit headers by tenant id + visit id.
  events,           ///< The visit event journal by visit id + sequence number.
  outbox,           ///< Pending EHR write-backs: a cursor per visit, and items stored whole.
  audit,            ///< Admin audit log by tenant id + time.
  reports,          ///< One report row per ended visit.
  dead_letters,     ///< Write-backs the EHR refused for good, kept for the portal and re-drive.
};

/// Every column, in declaration order.
[[nodiscard]] const std::vector<column>& all_columns();
/// The RocksDB column family name of `c` (stable: it is on disk).
[[nodiscard]] std::string_view column_name(column c) noexcept;

/// The schema version this build writes; a store with a newer one is refused at open, an older
/// one is brought up to it. 2: write-back cursors (storage/outbox.hpp).
inline constexpr int schema_version = 2;

struct store_options {
  std::string path;  ///< Directory of the database; created if missing.
  durability mode = durability::sync;
};

enum class op_kind : std::uint8_t {
  put,          ///< Set `key` to `value`.
  erase,        ///< Remove `key`.
  erase_range,  ///< Remove every key in [`key`, `value`) (RocksDB DeleteRange: one tombstone).
};

/// One write of an atomic group.
struct write_op {
  column c;
  std::string key;
  std::string value;
  op_kind kind = op_kind::put;
};

/// Called for each entry of a scan, in key order; return false to stop early.
using scan_visitor = std::function<bool(std::string_view key, std::string_view value)>;

/// A durable key-value store partitioned into columns. Thread-safe: all member functions may be
/// called concurrently.
class store {
public:
  virtual ~store() = default;

  /// Reads `key` from `c`. Returns not_found when absent, storage_failure on I/O errors.
  [[nodiscard]] virtual domain::result<std::string> get(column c, std::string_view key) const = 0;

  /// Writes `key` = `value` in `c`: a group of one (see write()).
  [[nodiscard]] domain::result<void> put(column c, std::string_view key, std::string_view value) {
    const write_op op{c, std::string{key}, std::string{value}};
    return write({&op, 1});
  }

  /// Applies every op in `ops` atomically (all or none), in one durable write: OK only once the
  /// group is durable per the store's durability mode. This is the journal's commit primitive.
  [[nodiscard]] virtual domain::result<void> write(std::span<const write_op> ops) = 0;

  /// Visits the entries of `c` whose keys start with `prefix` and are >= `start` (empty: from
  /// the first), in key order, from a consistent snapshot.
  [[nodiscard]] virtual domain::result<void> scan_from(column c, std::string_view prefix,
                                                       std::string_view start,
                                                       const scan_visitor& visit) const = 0;

  /// Visits every entry of `c` whose key starts with `prefix`.
  [[nodiscard]] domain::result<void> scan(column c, std::string_view prefix,
                                          const scan_visitor& visit) const {
    return scan_from(c, prefix, {}, visit);
  }

  /// Proves the store answers: a read of the schema version. Cheap; used by readiness probes.
  [[nodiscard]] virtual domain::result<void> check() const = 0;

  /// Flushes the WAL to disk and closes the database. Further calls fail with unavailable.
  /// Called by the owner at shutdown; the destructor closes too if it was not called.
  [[nodiscard]] virtual domain::result<void> close() = 0;
};

/// Opens (creating if missing) the RocksDB store at `options.path` with every column family,
/// checks the schema version, and records it on first open.
[[nodiscard]] domain::result<std::unique_ptr<store>> open_rocksdb_store(
  const store_options& options);

}  // namespace visitd::storage
