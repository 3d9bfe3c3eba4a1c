#pragma once

// A tenant: one organization on the box, with the portal accounts that administer it and the
// one account (an EHR analyst) that approves its FHIR endpoints.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/regions.hpp"
#include "domain/write_back_policy.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

/// Which EHR the tenant runs; it decides the approval flow and the integration records.
enum class ehr_kind : std::uint8_t {
  generic_smart,  ///< Any SMART App Launch 2.x EHR.
  epic,
  oracle_health,  ///< Endpoints are approved by a tenant admin alone (no validation step).
};

enum class tenant_status : std::uint8_t { active, suspended };

inline constexpr std::size_t max_display_name_bytes = 200;

/// The tenant id reserved for what concerns the whole box rather than one organization: the
/// operator's actions (creating, suspending tenants) are audited under it, so they share the
/// audit log's per-tenant layout and retention. `make_tenant` refuses it, so no organization's
/// audit trail can mix with the operator's.
inline constexpr std::string_view box_tenant_text = "_box";

/// `box_tenant_text` as an id.
[[nodiscard]] const tenant_id& box_tenant();
[[nodiscard]] bool is_box_tenant(const tenant_id& id) noexcept;

/// One organization. Invariants (kept by `make_tenant` and the functions below): at least one
/// admin, no duplicate admins, a non-empty approver.
struct tenant {
  tenant_id id;
  std::string display_name;  ///< The organization's name (not personal data).
  std::string region;        ///< Region tag such as `eu-west`: `[a-z0-9-]`, 1..32.
  tenant_status status = tenant_status::active;
  std::vector<account_id> admins;
  account_id approver;  ///< May also be an admin.
  ehr_kind ehr = ehr_kind::generic_smart;
  /// What visitd writes back to the tenant's EHR, and with which AuditEvent codes.
  write_back_policy write_back{};

  [[nodiscard]] bool is_admin(const account_id& account) const noexcept;
  [[nodiscard]] bool is_approver(const account_id& account) const noexcept {
    return account == approver;
  }

  friend bool operator==(const tenant&, const tenant&) = default;
};

/// Validates and returns an active tenant. `invalid_argument` (naming the field) for an empty or
/// the reserved id (`box_tenant_text`), an empty or over-long display name or one with control
/// characters, a badly formed region tag, no admins or a duplicate admin, or an empty approver.
///
/// Checks the region's format only, not that the box serves it: stored tenants are decoded with
/// it, and a tenant must still load after the operator drops its region from the configuration.
/// Creating a tenant (the operator's action) must go through `make_tenant_in`.
[[nodiscard]] result<tenant> make_tenant(tenant_id id, std::string_view display_name,
                                         std::string_view region, std::vector<account_id> admins,
                                         account_id approver, ehr_kind ehr);

/// `make_tenant`, and the region must be one the operator configured (`require_known_region`):
/// the only way a new tenant is created.
[[nodiscard]] result<tenant> make_tenant_in(const region_list& regions, tenant_id id,
                                            std::string_view display_name, std::string_view region,
                                            std::vector<account_id> admins, account_id approver,
                                            ehr_kind ehr);

/// The operator's edit of a tenant's profile: each given field replaces the current one, with
/// `make_tenant`'s checks; id, region, EHR kind, status and write-back policy are kept.
[[nodiscard]] result<tenant> update_profile(const tenant& t,
                                            std::optional<std::string> display_name,
                                            std::optional<std::vector<account_id>> admins,
                                            std::optional<account_id> approver);

/// OK for an active tenant; `conflict` ("tenant '…' is suspended") otherwise. The one check
/// every change a suspended tenant may not make goes through.
[[nodiscard]] result<void> require_active(const tenant& t);

/// Suspends an active tenant (its endpoints cannot change while suspended); `conflict` if it
/// already is.
[[nodiscard]] result<void> suspend(tenant& t);

/// Reactivates a suspended tenant; `conflict` if it is active.
[[nodiscard]] result<void> reactivate(tenant& t);

/// An admin (`actor`) names a new approver. `forbidden` unless `actor` is an admin; `conflict`
/// when suspended. Validations recorded by the previous approver no longer allow approval.
[[nodiscard]] result<void> set_approver(tenant& t, const account_id& actor, account_id approver);

/// An admin (`actor`) sets the write-back policy. `forbidden` unless `actor` is an admin;
/// `conflict` when suspended; `invalid_argument` naming the coding when one is invalid
/// (`validate_write_back_policy`).
[[nodiscard]] result<void> set_write_back_policy(tenant& t, const account_id& actor,
                                                 write_back_policy policy);

[[nodiscard]] std::string_view to_string(ehr_kind kind) noexcept;
[[nodiscard]] std::string_view to_string(tenant_status status) noexcept;

/// The kind named as `to_string` names it; `invalid_argument` naming `ehr` otherwise (listing
/// the kinds).
[[nodiscard]] result<ehr_kind> parse_ehr_kind(std::string_view text);

}  // namespace visitd::domain
