#pragma once

// What the accounts actor answers, as plain structs without CAF types, so the runtime's
// interface (and through it the http layer) can use them.

#include "domain/account.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"

#include <optional>
#include <string>
#include <vector>

namespace visitd::actors {

/// A successful sign-in: the secrets go to the browser (cookie and CSRF header), never to the
/// store, which keeps their digests.
struct signed_in {
  std::string session_token;
  std::string csrf_token;
  domain::account_id account;
  bool is_operator = false;
  domain::timestamp expires_at{};
};

/// Who a session token (or an API token) belongs to.
struct session_info {
  domain::account_id account;
  bool is_operator = false;
  std::string csrf_digest;  ///< Compare `auth::token_digest(header)` with it.
  domain::timestamp expires_at{};
  std::vector<domain::ehr_link> ehr_links;  ///< The EHR user the account is in each tenant.
  /// Set when the caller used an API token: the one tenant it may act in (never as an operator,
  /// and with no CSRF check: a bearer token is not sent by browsers on their own).
  std::optional<domain::tenant_id> token_tenant{};
};

/// A tenant admin's request for an API token of `tenant`, acting as `by`.
struct new_api_token {
  domain::tenant_id tenant;
  domain::account_id by;
  std::string label;
};

/// A new API token: `secret` is shown to the caller once and kept nowhere.
struct issued_api_token {
  std::string secret;
  domain::api_token token;
};

/// Revocation of token `id` of `tenant` by admin `by`.
struct api_token_revocation {
  domain::tenant_id tenant;
  std::string id;
  domain::account_id by;
};

/// Links `account` to `user` in `tenant`; `by` is the admin doing it (the caller checked that
/// it may), named in the audit entry written with the link.
struct ehr_link_request {
  domain::account_id account;
  domain::tenant_id tenant;
  domain::ehr_user_id user;
  domain::account_id by{};
};

/// An operator's request for a new account.
struct new_account {
  domain::account_id by;  ///< The operator asking.
  std::string login;      ///< As typed (lowercased by the actor).
  std::string password;   ///< Empty: no password sign-in (a provider signed in by EHR launch).
  bool is_operator = false;
};

}  // namespace visitd::actors
