#pragma once

// The CAF-free side of write-back (actors/write_back.hpp): how the actors reach the EHR, their
// tunables and an endpoint's status. The runtime's interface uses these, so the http layer sees
// them without CAF headers.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "domain/write_back.hpp"
#include "fhir/capability_statement.hpp"
#include "fhir/write_back_client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace visitd::actors {

/// How an endpoint actor reaches the EHR (fhir::write_back_client in the server; fakes in
/// tests). Completions may run on any thread.
struct write_back_transport {
  using check_reply = std::function<void(domain::result<fhir::write_back_support>)>;
  using deliver_reply = std::function<void(fhir::delivery_outcome)>;
  std::function<void(const fhir::write_back_endpoint&, const check_reply&)> check;
  std::function<void(const fhir::write_back_endpoint&, const fhir::write_back_plan&,
                     const domain::write_back_item&, domain::fhir_write, const deliver_reply&)>
    deliver;
};

struct write_back_options {
  /// Writes in flight per endpoint (each to a different visit).
  std::size_t max_in_flight = 4;
  /// Items an endpoint actor holds in memory; beyond it they wait in the store.
  std::size_t max_in_memory = 20'000;
  domain::retry_policy retry;
  domain::circuit_breaker::options breaker;
  /// The CapabilityStatement is read again this often.
  std::chrono::milliseconds recheck_interval{std::chrono::hours{1}};
  /// Wait before trying again to read the endpoint or its CapabilityStatement after a failure.
  std::chrono::milliseconds setup_retry{std::chrono::seconds{10}};
  /// Dead letters moved back per journal group by a re-drive.
  std::size_t redrive_page = 1'000;
  /// Timeout of the actors' requests to the directory and tenant actors.
  std::chrono::milliseconds request_timeout{std::chrono::seconds{2}};
  /// What the box allows to be written: each tenant's policy chooses within it, and each write
  /// also needs the EHR's support.
  domain::write_back_targets allowed;
};

/// An endpoint's write-back, for the portal and /metrics.
struct write_back_status {
  domain::tenant_id tenant;
  domain::endpoint_id endpoint;
  /// Why nothing is being delivered (empty while items flow).
  std::string blocked;
  std::optional<fhir::write_back_support> support;
  std::optional<domain::timestamp> checked_at;
  std::string check_error;  ///< The last CapabilityStatement check's failure, if it failed.
  std::optional<fhir::write_back_plan> plan;
  std::uint64_t pending = 0;   ///< Items held in memory.
  bool more_in_store = false;  ///< Further items wait in the store beyond `pending`.
  std::optional<domain::timestamp> oldest_pending_at;  ///< The oldest held item's event time.
  std::uint64_t in_flight = 0;
  std::uint64_t delivered = 0;     ///< Items delivered since start.
  std::uint64_t writes = 0;        ///< FHIR writes completed since start.
  std::uint64_t retries = 0;       ///< Failed attempts that will be retried, since start.
  std::uint64_t dead_letters = 0;  ///< Dead letters now stored.
  std::string breaker;             ///< closed, open or half_open.
  std::string last_error;
  std::optional<domain::timestamp> last_delivered_at;
};

}  // namespace visitd::actors
