#include "domain/account.hpp"

#include <algorithm>

namespace visitd::domain {

const ehr_user_id* account::ehr_user_in(const tenant_id& tenant) const noexcept {
  auto it = std::find_if(ehr_links.begin(), ehr_links.end(),
                         [&](const ehr_link& l) { return l.tenant == tenant; });
  return it == ehr_links.end() ? nullptr : &it->user;
}

std::string normalize_login(std::string_view typed) {
  std::string login{typed};
  for (auto& c : login)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return login;
}

result<void> validate_login(std::string_view login) {
  if (login.size() < min_login_bytes || login.size() > max_login_bytes)
    return make_error(errc::invalid_argument, "login: " + std::to_string(min_login_bytes) + ".." +
                                                std::to_string(max_login_bytes) + " characters");
  for (char c : login) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '@' || c == '+' || c == '-';
    if (!ok)
      return make_error(errc::invalid_argument,
                        "login: only lowercase letters, digits and . _ @ + - are allowed");
  }
  return {};
}

result<account> make_account(account_id id, std::string_view login, std::string password_hash,
                             bool is_operator, timestamp created_at) {
  if (id.empty()) return make_error(errc::invalid_argument, "id: must not be empty");
  if (auto ok = validate_login(login); !ok) return std::move(ok).err();
  account a;
  a.id = std::move(id);
  a.login = std::string{login};
  a.password_hash = std::move(password_hash);
  a.is_operator = is_operator;
  a.created_at = created_at;
  return a;
}

result<void> link_ehr_user(account& a, const tenant_id& tenant, ehr_user_id user) {
  if (const auto* linked = a.ehr_user_in(tenant)) {
    if (*linked == user) return {};
    return make_error(errc::conflict, "account " + a.id.str() +
                                        " is already linked to another "
                                        "EHR user in tenant " +
                                        tenant.str());
  }
  a.ehr_links.push_back({tenant, std::move(user)});
  return {};
}

result<api_token> make_api_token(std::string id, std::string token_digest, tenant_id tenant,
                                 account_id owner, std::string_view label, timestamp created_at) {
  auto invalid = [](std::string message) {
    return make_error(errc::invalid_argument, std::move(message));
  };
  auto id_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  if (id.size() != 16 || !id.starts_with("tok-") || !std::all_of(id.begin() + 4, id.end(), id_char))
    return invalid("id: must be tok- and 12 of [A-Za-z0-9_-]");
  if (token_digest.empty()) return invalid("token_digest: is empty");
  if (tenant.empty()) return invalid("tenant: is empty");
  if (owner.empty()) return invalid("owner: is empty");
  if (label.empty() || label.size() > max_api_token_label_bytes)
    return invalid("label: must be 1.." + std::to_string(max_api_token_label_bytes) + " bytes");
  if (std::any_of(label.begin(), label.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return invalid("label: must not contain control characters");
  return api_token{std::move(id),    std::move(token_digest), std::move(tenant),
                   std::move(owner), std::string{label},      created_at};
}

}  // namespace visitd::domain
