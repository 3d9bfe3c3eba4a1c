#include "domain/tenant.hpp"

#include <algorithm>
#include <set>

namespace visitd::domain {

const tenant_id& box_tenant() {
  static const tenant_id id = tenant_id::parse(box_tenant_text).value();
  return id;
}

bool is_box_tenant(const tenant_id& id) noexcept {
  return id.str() == box_tenant_text;
}

bool tenant::is_admin(const account_id& account) const noexcept {
  return std::find(admins.begin(), admins.end(), account) != admins.end();
}

result<tenant> make_tenant(tenant_id id, std::string_view display_name, std::string_view region,
                           std::vector<account_id> admins, account_id approver, ehr_kind ehr) {
  if (id.empty()) return make_error(errc::invalid_argument, "tenant_id is required");
  if (is_box_tenant(id))
    return make_error(errc::invalid_argument,
                      "tenant_id '" + id.str() + "' is reserved for box-level records");
  if (display_name.empty() || display_name.size() > max_display_name_bytes)
    return make_error(errc::invalid_argument, "display_name must be 1.." +
                                                std::to_string(max_display_name_bytes) + " bytes");
  if (std::any_of(display_name.begin(), display_name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return make_error(errc::invalid_argument, "display_name contains a control character");
  if (auto ok = validate_region_tag(region, "region"); !ok) return std::move(ok).err();
  if (admins.empty())
    return make_error(errc::invalid_argument, "admins must name at least one account");
  std::set<account_id> seen;
  for (const auto& a : admins) {
    if (a.empty()) return make_error(errc::invalid_argument, "admins contains an empty account_id");
    if (!seen.insert(a).second)
      return make_error(errc::invalid_argument, "admins lists account '" + a.str() + "' twice");
  }
  if (approver.empty()) return make_error(errc::invalid_argument, "approver is required");
  return tenant{std::move(id),
                std::string{display_name},
                std::string{region},
                tenant_status::active,
                std::move(admins),
                std::move(approver),
                ehr};
}

result<tenant> make_tenant_in(const region_list& regions, tenant_id id,
                              std::string_view display_name, std::string_view region,
                              std::vector<account_id> admins, account_id approver, ehr_kind ehr) {
  // Format first: "region must be [a-z0-9-]" says more than "not a configured region".
  auto made =
    make_tenant(std::move(id), display_name, region, std::move(admins), std::move(approver), ehr);
  if (!made) return made;
  if (auto ok = require_known_region(regions, region); !ok) return std::move(ok).err();
  return made;
}

result<tenant> update_profile(const tenant& t, std::optional<std::string> display_name,
                              std::optional<std::vector<account_id>> admins,
                              std::optional<account_id> approver) {
  auto new_admins = t.admins;
  if (admins) new_admins = std::move(*admins);
  auto new_approver = t.approver;
  if (approver) new_approver = std::move(*approver);
  auto updated = make_tenant(t.id, display_name ? *display_name : t.display_name, t.region,
                             std::move(new_admins), std::move(new_approver), t.ehr);
  if (!updated) return updated;
  updated->status = t.status;
  updated->write_back = t.write_back;
  return updated;
}

result<void> require_active(const tenant& t) {
  if (t.status != tenant_status::active)
    return make_error(errc::conflict, "tenant '" + t.id.str() + "' is suspended");
  return {};
}

result<void> suspend(tenant& t) {
  if (t.status == tenant_status::suspended)
    return make_error(errc::conflict, "tenant '" + t.id.str() + "' is already suspended");
  t.status = tenant_status::suspended;
  return {};
}

result<void> reactivate(tenant& t) {
  if (t.status == tenant_status::active)
    return make_error(errc::conflict, "tenant '" + t.id.str() + "' is already active");
  t.status = tenant_status::active;
  return {};
}

result<void> set_approver(tenant& t, const account_id& actor, account_id approver) {
  if (!t.is_admin(actor))
    return make_error(errc::forbidden,
                      "only an admin of tenant '" + t.id.str() + "' may name its approver");
  if (auto active = require_active(t); !active) return active;
  if (approver.empty()) return make_error(errc::invalid_argument, "approver is required");
  t.approver = std::move(approver);
  return {};
}

result<void> set_write_back_policy(tenant& t, const account_id& actor, write_back_policy policy) {
  if (!t.is_admin(actor))
    return make_error(errc::forbidden, "only an admin of tenant '" + t.id.str() +
                                         "' may set what is written back to its EHR");
  if (auto active = require_active(t); !active) return active;
  if (auto valid = validate_write_back_policy(policy); !valid) return valid;
  t.write_back = std::move(policy);
  return {};
}

std::string_view to_string(tenant_status status) noexcept {
  return status == tenant_status::active ? "active" : "suspended";
}

result<ehr_kind> parse_ehr_kind(std::string_view text) {
  for (auto kind : {ehr_kind::generic_smart, ehr_kind::epic, ehr_kind::oracle_health})
    if (to_string(kind) == text) return kind;
  return make_error(errc::invalid_argument,
                    "ehr: must be one of generic_smart, epic, oracle_health");
}

std::string_view to_string(ehr_kind kind) noexcept {
  switch (kind) {
    case ehr_kind::generic_smart: return "generic_smart";
    case ehr_kind::epic: return "epic";
    case ehr_kind::oracle_health: return "oracle_health";
  }
  return "unknown";
}

}  // namespace visitd::domain
