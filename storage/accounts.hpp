#pragma once

// Accounts, sessions and API tokens in the `accounts` column family (docs/storage.md): the records
// plus two indexes kept in the same write as the record (login -> account, and tenant + EHR user ->
// account), so a sign-in by login and an EHR launch each find the account with one read.
//
// Keys: kind byte | ...
//   'a' | account id                    -> account record
//   'l' | login                         -> account id
//   'e' | tenant id | 0x00 | EHR user   -> account id
//   's' | token digest                  -> session record
//   't' | token digest                  -> API token record (removed when revoked)

#include "domain/account.hpp"
#include "domain/error.hpp"
#include "storage/store.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace visitd::storage {

/// Ops that store `after` and keep both indexes in step with it: index entries `before` had
/// and `after` has not are removed. `before` is the account as stored (nullptr if new).
/// Uniqueness of logins and EHR links is the caller's (the accounts actor's) to check first.
[[nodiscard]] std::vector<write_op> account_ops(const domain::account* before,
                                                const domain::account& after);

[[nodiscard]] std::vector<write_op> session_ops(const domain::session& s);
[[nodiscard]] std::vector<write_op> end_session_ops(std::string_view token_digest);

[[nodiscard]] std::vector<write_op> api_token_ops(const domain::api_token& t);
[[nodiscard]] std::vector<write_op> revoke_api_token_ops(std::string_view token_digest);

/// Every account and session as stored (the accounts actor starts from them). `storage_failure`
/// naming the key of a corrupt record.
struct stored_accounts {
  std::vector<domain::account> accounts;
  std::vector<domain::session> sessions;
  std::vector<domain::api_token> api_tokens;
};
[[nodiscard]] domain::result<stored_accounts> load_accounts(const store& source);

/// The account with `login`, or nullopt.
[[nodiscard]] domain::result<std::optional<domain::account>> find_account_by_login(
  const store& source, std::string_view login);

}  // namespace visitd::storage
