#include "domain/audit.hpp"

#include <algorithm>

namespace visitd::domain {

namespace {

bool is_action_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '-';
}

bool is_control(char c) noexcept {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

result<void> check_snapshot(std::string_view snapshot, std::string_view field) {
  if (snapshot.size() > max_audit_snapshot_bytes)
    return make_error(errc::invalid_argument, std::string{field} + " is longer than " +
                                                std::to_string(max_audit_snapshot_bytes) +
                                                " bytes");
  return {};
}

}  // namespace

result<audit_entry> make_audit_entry(tenant_id tenant, account_id actor, std::string_view action,
                                     std::string_view target, timestamp at, std::string before,
                                     std::string after) {
  if (tenant.empty()) return make_error(errc::invalid_argument, "tenant is required");
  if (actor.empty()) return make_error(errc::invalid_argument, "actor is required");
  if (action.empty() || action.size() > max_audit_action_bytes ||
      !std::all_of(action.begin(), action.end(), is_action_char))
    return make_error(
      errc::invalid_argument,
      "action must be 1.." + std::to_string(max_audit_action_bytes) + " characters of [a-z._-]");
  if (target.size() > max_audit_target_bytes)
    return make_error(errc::invalid_argument,
                      "target is longer than " + std::to_string(max_audit_target_bytes) + " bytes");
  if (std::any_of(target.begin(), target.end(), is_control))
    return make_error(errc::invalid_argument, "target contains a control character");
  if (at < timestamp{})
    return make_error(errc::invalid_argument, "at must not be before 1970-01-01T00:00:00Z");
  if (auto ok = check_snapshot(before, "before"); !ok) return std::move(ok).err();
  if (auto ok = check_snapshot(after, "after"); !ok) return std::move(ok).err();
  return audit_entry{
    std::move(tenant), std::move(actor), std::string{action}, std::string{target}, at,
    std::move(before), std::move(after)};
}

}  // namespace visitd::domain
