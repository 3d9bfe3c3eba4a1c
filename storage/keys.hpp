#pragma once

// The key layout of every column family (docs/storage.md). Ids are URL-safe
// ([A-Za-z0-9._-], see domain/ids.hpp), so a 0x00 byte separates the parts of a key
// unambiguously, and integers are big-endian so byte order is numeric order: a prefix scan
// returns a visit's events in sequence order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace visitd::storage::keys {

inline constexpr char separator = '\0';

/// Appends `value` as 8 big-endian bytes.
void append_u64(std::string& out, std::uint64_t value);
/// Reads 8 big-endian bytes; nullopt unless `bytes` is exactly 8 bytes long.
[[nodiscard]] std::optional<std::uint64_t> read_u64(std::string_view bytes);

/// events: visit id | 0x00 | seq (u64)
[[nodiscard]] std::string event(std::string_view visit_id, std::uint64_t seq);
/// The prefix of every event key of a visit, and the first key after all of them (for range
/// deletes: [event_prefix, event_prefix_end)).
[[nodiscard]] std::string event_prefix(std::string_view visit_id);
[[nodiscard]] std::string event_prefix_end(std::string_view visit_id);
/// Splits an event key into visit id and seq; nullopt if it is not one.
[[nodiscard]] std::optional<std::pair<std::string_view, std::uint64_t>> parse_event(
  std::string_view key);

/// outbox and dead_letters: tenant id | 0x00 | endpoint id | 0x00 | visit id | 0x00 | seq (u64):
/// per endpoint (endpoint ids are unique within their tenant only), per visit, in order.
[[nodiscard]] std::string outbox(std::string_view tenant_id, std::string_view endpoint_id,
                                 std::string_view visit_id, std::uint64_t seq);
/// The prefix of every outbox key of one endpoint.
[[nodiscard]] std::string outbox_prefix(std::string_view tenant_id, std::string_view endpoint_id);
/// The prefix of every outbox key of one visit of an endpoint.
[[nodiscard]] std::string outbox_visit_prefix(std::string_view tenant_id,
                                              std::string_view endpoint_id,
                                              std::string_view visit_id);
/// Splits an outbox key into tenant id, endpoint id, visit id and seq; nullopt if it is not one.
struct outbox_key_parts {
  std::string_view tenant, endpoint, visit;
  std::uint64_t seq = 0;
};
[[nodiscard]] std::optional<outbox_key_parts> parse_outbox(std::string_view key);

/// visits: visit id (ids are generated unique across tenants).
[[nodiscard]] std::string visit(std::string_view visit_id);

/// tenants: tenant id.  endpoints: tenant id | 0x00 | endpoint id.
[[nodiscard]] std::string tenant(std::string_view tenant_id);
[[nodiscard]] std::string endpoint(std::string_view tenant_id, std::string_view endpoint_id);

/// reports: tenant id | 0x00 | day (u64, days since 1970-01-01 UTC) | visit id.
[[nodiscard]] std::string report(std::string_view tenant_id, std::uint64_t day,
                                 std::string_view visit_id);
/// The first report key of `tenant_id` on `day` (range bounds for retention and listing).
[[nodiscard]] std::string report_day_start(std::string_view tenant_id, std::uint64_t day);

/// audit: tenant id | 0x00 | time (u64, µs since 1970) | sequence (u32). The sequence keeps two
/// entries of one tenant in the same microsecond apart.
[[nodiscard]] std::string audit(std::string_view tenant_id, std::uint64_t micros,
                                std::uint32_t seq);
/// The first audit key of `tenant_id` at or after `micros` (range bounds for reads and
/// retention).
[[nodiscard]] std::string audit_time_start(std::string_view tenant_id, std::uint64_t micros);
/// The prefix of every audit key of a tenant, and the first key after all of them.
[[nodiscard]] std::string audit_prefix(std::string_view tenant_id);
[[nodiscard]] std::string audit_prefix_end(std::string_view tenant_id);
/// Splits an audit key into tenant id, time and sequence; nullopt if it is not one.
[[nodiscard]] std::optional<std::tuple<std::string_view, std::uint64_t, std::uint32_t>> parse_audit(
  std::string_view key);

}  // namespace visitd::storage::keys
