#pragma once

// What an EHR's CapabilityStatement (`GET [base]/metadata`, FHIR R4) says about the writes visitd
// makes, and the write-back plan that follows from it: how AuditEvents are created without ever
// duplicating one on a retry, and whether Encounters and Appointments can be updated.
//
// AuditEvent creation, in order of preference:
//   1. `PUT AuditEvent/{deterministic id}` when the server allows update-as-create
//      (`updateCreate: true` and the `update` interaction): a retry overwrites the same id.
//   2. `POST AuditEvent` with `If-None-Exist: _tag=<system>|<event key>` when the server
//      supports conditional create (`conditionalCreate: true` and `create`): a retry finds the
//      first one. `_tag` is a search parameter every R4 server has.
//   3. Neither: AuditEvents are not written, and the plan says why (the admin is told; a plain
//      POST that a timeout could duplicate is never risked).
// Encounter and Appointment updates need `read` and `update` on the type; `If-Match` is sent
// with the ETag the read returned.

#include "domain/error.hpp"
#include "domain/write_back_policy.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace visitd::fhir {

/// What the server declares for one resource type (all false when the type is not listed).
struct resource_support {
  bool listed = false;
  bool read = false;
  bool create = false;
  bool update = false;
  bool update_create = false;       ///< `updateCreate`
  bool conditional_create = false;  ///< `conditionalCreate`
  std::string versioning;           ///< `no-version`, `versioned`, `versioned-update` or ""
  friend bool operator==(const resource_support&, const resource_support&) = default;
};

/// The parts of a CapabilityStatement write-back depends on.
struct write_back_support {
  std::string fhir_version;  ///< e.g. "4.0.1"
  resource_support audit_event;
  resource_support encounter;
  resource_support appointment;
  friend bool operator==(const write_back_support&, const write_back_support&) = default;
};

/// Parses a CapabilityStatement (simdjson). Reads the first `rest` entry with mode `server`.
/// `invalid_argument` saying what is wrong when the text is not JSON, not a CapabilityStatement,
/// or has no server `rest` entry. Unknown members are ignored.
[[nodiscard]] domain::result<write_back_support> parse_capability_statement(std::string_view json);

enum class audit_event_strategy : std::uint8_t {
  update_as_create,    ///< PUT to the deterministic id.
  conditional_create,  ///< POST with If-None-Exist on the event key tag.
  unsupported,         ///< Not written (see the plan's notes).
};

/// How an endpoint writes back, decided from its EHR's support and the tenant's policy.
struct write_back_plan {
  audit_event_strategy audit_events = audit_event_strategy::unsupported;
  domain::write_back_targets targets;  ///< What is actually written (wanted and supported).
  domain::audit_event_codes codes;     ///< The tenant's AuditEvent codes.
  /// One sentence per wanted write that is not possible, e.g. "AuditEvent: the server supports
  /// neither update-as-create nor conditional create, so a retry could duplicate".
  std::vector<std::string> notes;
  friend bool operator==(const write_back_plan&, const write_back_plan&) = default;
};

/// The plan for an EHR with `support`, for a tenant whose policy is `wanted` (its writes
/// already narrowed to what the box allows).
[[nodiscard]] write_back_plan plan_write_back(const write_back_support& support,
                                              const domain::write_back_policy& wanted);

[[nodiscard]] std::string_view to_string(audit_event_strategy s) noexcept;

}  // namespace visitd::fhir
