#pragma once

// The body of PUT /api/v1/tenants/{tenant_id}/write-back-policy: the tenant's whole write-back
// policy, in the shape `domain::write_back_policy_json` answers with, so an admin can GET it,
// edit it and PUT it back. A PUT replaces the policy; a member left out takes its default
// (every write on, the DICOM codes), so the body `{}` restores the defaults.
//
//   {"writes": {"audit_events": bool, "encounters": bool, "appointments": bool},
//    "audit_event_codes": {"type" | "connected" | "disconnected" | "device_test":
//                            {"system": string, "code": string, "display"?: string}}}

#include "domain/write_back_policy.hpp"
#include "http/json_body.hpp"

#include <string_view>
#include <variant>

namespace visitd::http {

/// Parses the body (simdjson). 400 with `invalid_json` for malformed JSON or a body that is not
/// an object, `unknown_field` naming the member's path (`audit_event_codes.login`) for a member
/// not listed above, `invalid_field` naming the path for a wrong type, a duplicate member or a
/// coding without system or code. The codings' contents are checked by the domain
/// (`validate_write_back_policy`), not here.
[[nodiscard]] std::variant<domain::write_back_policy, body_error> parse_write_back_policy(
  std::string_view json);

/// `parse_write_back_policy` of a request's body; first 415 unless it is `application/json`
/// (as `read_json_object`).
[[nodiscard]] std::variant<domain::write_back_policy, body_error> read_write_back_policy(
  const request& req);

}  // namespace visitd::http
