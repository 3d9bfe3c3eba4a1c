#pragma once

// Portal accounts: the people who sign in to visitd itself. An operator runs the whole box;
// tenant admins and approvers are accounts a tenant record names (tenant.hpp), so an account's
// role in a tenant is read from the tenant, never stored twice. A provider's account is linked
// once per tenant to their EHR user id and is then signed in by the EHR launch.
//
// No names: the login is whatever handle the operator chooses (an employee number, a work
// e-mail address); visitd stores it, the password hash and the EHR user ids, nothing else.

#include "domain/error.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace visitd::domain {

inline constexpr std::size_t min_login_bytes = 3;
inline constexpr std::size_t max_login_bytes = 64;

enum class account_status : std::uint8_t { active, disabled };

/// The EHR user an account acts as within one tenant (the provider link).
struct ehr_link {
  tenant_id tenant;
  ehr_user_id user;
  friend bool operator==(const ehr_link&, const ehr_link&) = default;
};

struct account {
  account_id id;
  std::string login;          ///< Lowercase `[a-z0-9._@+-]`, 3..64; unique on the box.
  std::string password_hash;  ///< argon2id PHC string; empty: no password sign-in.
  bool is_operator = false;
  account_status status = account_status::active;
  std::vector<ehr_link> ehr_links;  ///< At most one per tenant.
  timestamp created_at{};

  [[nodiscard]] const ehr_user_id* ehr_user_in(const tenant_id& tenant) const noexcept;

  friend bool operator==(const account&, const account&) = default;
};

/// `typed` as a login: ASCII letters lowercased (logins are case-insensitive); nothing else
/// changes, so `validate_login` still judges the rest.
[[nodiscard]] std::string normalize_login(std::string_view typed);

/// `invalid_argument` naming `login` unless it is 3..64 characters of `[a-z0-9._@+-]` (callers
/// lowercase what a person typed first: logins are case-insensitive).
[[nodiscard]] result<void> validate_login(std::string_view login);

/// A new active account. `invalid_argument` naming the field for a bad login or an empty id.
/// The password hash is not checked here (auth/passwords.hpp makes and reads it).
[[nodiscard]] result<account> make_account(account_id id, std::string_view login,
                                           std::string password_hash, bool is_operator,
                                           timestamp created_at);

/// Links `a` to `user` in `tenant`. Linking the same user again changes nothing; `conflict` when
/// the account is linked to another user in that tenant (an admin must unlink it first).
[[nodiscard]] result<void> link_ehr_user(account& a, const tenant_id& tenant, ehr_user_id user);

/// A signed-in browser. The store keys it by the digest of its token (the token itself is only
/// in the browser's cookie); `csrf_digest` is the digest of the CSRF token the portal sends back
/// in a header with every state-changing request.
struct session {
  std::string token_digest;
  account_id account;
  std::string csrf_digest;
  timestamp created_at{};
  timestamp expires_at{};  ///< Absolute lifetime; idle expiry is checked against `last_seen`.
  friend bool operator==(const session&, const session&) = default;
};

/// An API token for automation: it acts as `owner` (an admin of `tenant` when it was made) in
/// `tenant` only, never as an operator, until revoked (its record is then removed). Its secret
/// is shown once, when made; only the secret's digest is kept.
struct api_token {
  std::string id;            ///< `tok-` + 12 characters: names it in listings and revocation.
  std::string token_digest;  ///< Of the secret (auth::token_digest).
  tenant_id tenant;
  account_id owner;
  std::string label;  ///< What it is for: 1..100 bytes, no control characters.
  timestamp created_at{};
  friend bool operator==(const api_token&, const api_token&) = default;
};

inline constexpr std::size_t max_api_token_label_bytes = 100;

/// Validates and returns a token record. `invalid_argument` naming the field for an id not of
/// the form `tok-` + 12 of `[A-Za-z0-9_-]`, an empty digest, tenant or owner, or a label that is
/// empty, longer than 100 bytes, or has control characters.
[[nodiscard]] result<api_token> make_api_token(std::string id, std::string token_digest,
                                               tenant_id tenant, account_id owner,
                                               std::string_view label, timestamp created_at);

}  // namespace visitd::domain
