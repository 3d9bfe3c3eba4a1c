#pragma once

// The records beside the event journal: tenants, endpoints (with an index by normalized FHIR
// base URL, for launches), visit headers and report rows. Functions return the write ops so a
// caller can put them in the same journal group as the events they belong with.

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/report.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"
#include "storage/store.hpp"

#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace visitd::storage {

// -- tenants and endpoints ------------------------------------------------------------------

[[nodiscard]] std::vector<write_op> tenant_ops(const domain::tenant& t);

/// Ops that store `after` and keep the URL index in step: entries for base URLs no revision of
/// `after` uses any more are removed. `before` is the endpoint as stored (nullptr if new).
[[nodiscard]] std::vector<write_op> endpoint_ops(const domain::fhir_endpoint* before,
                                                 const domain::fhir_endpoint& after);

/// The endpoints (tenant, endpoint) any of whose revisions uses `normalized_base_url`.
[[nodiscard]] domain::result<std::vector<std::pair<domain::tenant_id, domain::endpoint_id>>>
find_endpoints_by_url(const store& source, std::string_view normalized_base_url);

/// A tenant with its endpoints, as stored.
struct stored_tenant {
  domain::tenant tenant;
  std::vector<domain::fhir_endpoint> endpoints;
};

/// Reads one tenant and all its endpoints (a tenant actor restarted after a failure starts from
/// them). `not_found` for an unknown tenant; `storage_failure` naming the record if one is
/// corrupt.
[[nodiscard]] domain::result<stored_tenant> load_tenant(const store& source,
                                                        const domain::tenant_id& tenant);

// -- visits -----------------------------------------------------------------------------------

/// The stored header of a visit: what it is about, and whether it has ended (recovery skips
/// ended visits) and had its raw events removed by retention.
struct visit_header {
  domain::visit_info info;
  std::optional<domain::timestamp> ended_at;
  bool events_purged = false;
  friend bool operator==(const visit_header&, const visit_header&) = default;
};

[[nodiscard]] std::string encode_header(const visit_header& header);
[[nodiscard]] domain::result<visit_header> decode_header(std::string_view bytes);

/// Ops that create a visit: its header, and its write-back cursor (storage/outbox.hpp).
[[nodiscard]] std::vector<write_op> open_visit_ops(const domain::visit_info& info);

/// Ops that close a visit: its header marked ended at `ended_at`, and its report row computed
/// from `all_events` (the whole journal of the visit, including the final events). Append them
/// in the same group as the final events.
[[nodiscard]] std::vector<write_op> close_visit_ops(
  const domain::visit_info& info, std::span<const domain::event_envelope> all_events,
  domain::timestamp ended_at);

[[nodiscard]] domain::result<visit_header> load_visit_header(const store& source,
                                                             const domain::visit_id& visit);

/// Days since 1970-01-01 UTC of `t` (the report row's day).
[[nodiscard]] std::uint64_t day_of(domain::timestamp t) noexcept;

}  // namespace visitd::storage
