#pragma once

// The endpoint changes an admin or approver, and the tenant changes the operator, asks the tenant
// actor for, as plain structs without CAF types, so the runtime's interface (and through it the
// http layer) can use them.

#include "domain/fhir_endpoint.hpp"
#include "domain/ids.hpp"
#include "domain/tenant.hpp"
#include "domain/time.hpp"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace visitd::actors {

/// What the portal needs to send the approver to the EHR's authorize endpoint and to finish the
/// sign-in: `state`, `nonce` and `code_challenge` go into the authorize URL, `code_verifier` into
/// the token request, and `state` back into complete_validation.
struct pending_validation {
  std::string state;
  std::string nonce;
  std::string code_verifier;
  std::string code_challenge;      ///< S256.
  domain::timestamp expires_at{};  ///< complete_validation is refused from then on.
};

/// The endpoint changes an admin or approver makes (see domain/fhir_endpoint.hpp for the rules
/// each one checks). `actor` is the portal account making the change.
namespace endpoint_change {
struct create {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::endpoint_settings settings;
};
struct propose {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::endpoint_settings settings;
};
struct submit {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
};
struct validate {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
  domain::ehr_user_id ehr_user;  ///< Who signed in to the EHR at that revision's URL.
};
struct approve {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
};
struct reject {
  domain::account_id actor;
  domain::endpoint_id endpoint;
  domain::revision_number revision;
};
struct revoke {
  domain::account_id actor;
  domain::endpoint_id endpoint;
};
}  // namespace endpoint_change

/// Changes to a tenant itself: the operator's (update, suspend, reactivate) and its admins'
/// (set_write_back); `actor` is the account making the change.
namespace tenant_change {
struct update {
  domain::account_id actor;
  std::optional<std::string> display_name;
  std::optional<std::vector<domain::account_id>> admins;
  std::optional<domain::account_id> approver;
};
struct suspend {
  domain::account_id actor;
};
struct reactivate {
  domain::account_id actor;
};
/// An admin sets what is written back to the tenant's EHR (domain::set_write_back_policy).
struct set_write_back {
  domain::account_id actor;
  domain::write_back_policy policy;
};
}  // namespace tenant_change

using tenant_command = std::variant<tenant_change::update, tenant_change::suspend,
                                    tenant_change::reactivate, tenant_change::set_write_back>;

using endpoint_command =
  std::variant<endpoint_change::create, endpoint_change::propose, endpoint_change::submit,
               endpoint_change::validate, endpoint_change::approve, endpoint_change::reject,
               endpoint_change::revoke>;

}  // namespace visitd::actors
