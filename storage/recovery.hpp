#pragma once

// Start-up recovery: everything the actors need to resume, read back from the store. Ended
// visits are skipped (their report rows are already stored); open visits are rebuilt by
// folding their events, which also proves every stored event still decodes and is gapless.

#include "domain/error.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"
#include "storage/store.hpp"

#include <cstddef>
#include <vector>

namespace visitd::storage {

struct recovered_state {
  std::vector<domain::tenant> tenants;
  std::vector<domain::fhir_endpoint> endpoints;
  std::vector<domain::visit_state> open_visits;  ///< Folded from their events.
  std::size_t ended_visits = 0;                  ///< Headers skipped because the visit ended.
  std::size_t events_read = 0;
};

/// Reads every tenant and endpoint, and every visit that has not ended with its events.
/// Fails with storage_failure naming the record when anything does not decode or fold: a
/// corrupt store is reported, never half-loaded.
[[nodiscard]] domain::result<recovered_state> recover(const store& source);

}  // namespace visitd::storage
