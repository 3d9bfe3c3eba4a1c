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

}  // namespace visitd::domain
