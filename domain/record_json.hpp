#pragma once

// The JSON view of the portal's records (Boost.JSON): one shape for the API's answers and for the
// before/after snapshots of the audit log, so an auditor reads a change in the API's own terms.
// Accounts show no password hash and no EHR links.

#include "domain/account.hpp"
#include "domain/fhir_endpoint.hpp"
#include "domain/tenant.hpp"
#include "domain/visit.hpp"

#include <boost/json/object.hpp>

#include <string>

namespace visitd::domain {

/// {"id", "display_name", "region", "status", "admins", "approver", "ehr", "write_back"}
[[nodiscard]] boost::json::object tenant_json(const tenant& t);

/// {"type", "connected", "disconnected", "device_test"}, each coding {"system", "code",
/// "display"}.
[[nodiscard]] boost::json::object audit_event_codes_json(const audit_event_codes& codes);

/// {"writes": {"audit_events", "encounters", "appointments"},
///  "audit_event_codes": {"type", "connected", "disconnected", "device_test"}}, each coding
/// {"system", "code", "display"}: the shape the portal's PUT …/write-back-policy takes too.
[[nodiscard]] boost::json::object write_back_policy_json(const write_back_policy& policy);

/// {"id", "tenant", "in_force"?, "revisions": [{"number", "state", "base_url", "environment",
/// "client_id", "client_type", "created_by", "created_at", "validated_by"?, ...}]}
[[nodiscard]] boost::json::object endpoint_json(const fhir_endpoint& e);

/// {"id", "login", "operator"}
[[nodiscard]] boost::json::object account_json(const account& a);

/// {"account", "tenant", "ehr_user"}: an account's link to its EHR user in one tenant.
[[nodiscard]] boost::json::object ehr_link_json(const account_id& account, const ehr_link& link);

/// {"id", "tenant", "owner", "label", "created_at"}: an API token without its secret or digest.
[[nodiscard]] boost::json::object api_token_json(const api_token& t);

/// {"id", "tenant", "endpoint", "scheduled_start", "appointment"?, "encounter"?, "department"?}:
/// what a visit is about (no participants).
[[nodiscard]] boost::json::object visit_info_json(const visit_info& info);

/// The serialized text of a view above (an audit snapshot).
[[nodiscard]] std::string json_text(const boost::json::object& view);

}  // namespace visitd::domain
