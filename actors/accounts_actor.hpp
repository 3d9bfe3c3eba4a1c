#pragma once

// One actor for the box's portal accounts and their sessions: the only writer of both. It
// signs people in (password checked by a detached checker actor, since argon2id takes tens of
// milliseconds of a core and must not stall the scheduler), rate-limits sign-in attempts per
// account and per address, keeps sessions (durable: a restart does not sign anyone out) and
// answers the session look-up every authenticated request makes, from memory.
//
// Interface (`accounts_actor`); errors are domain errors (to_caf_error):
//   (sign_in_atom, login, password, remote address) -> signed_in: a new session, durable before
//        the reply. `unauthenticated` ("login or password is wrong") for an unknown login, a
//        wrong password or a disabled account alike (and an unknown login costs a password check
//        too, so timing does not tell them apart); `rate_limited` once the account or the
//        address has had too many failures within `failure_window`.
//   (authenticate_atom, session token) -> session_info, or `unauthenticated` for an unknown,
//        expired (absolute lifetime) or idle (no request for `session_idle`) session.
//   (sign_out_atom, session token) -> ok; the session is removed durably. Unknown: ok too.
//   (create_account_atom, new_account) -> the account (operator only; the actor checks):
//        login taken -> `conflict`; password rules -> `invalid_argument`.
//   (create_api_token_atom, new_api_token) -> issued_api_token: a token of the tenant acting as
//        its admin `by` (the caller checked that `by` is one), durable and audited
//        (`api_token.create`) before the reply; the secret is in the reply only.
//   (list_api_tokens_atom, tenant) -> the tenant's tokens (no secrets), oldest first.
//   (revoke_api_token_atom, api_token_revocation) -> ok once the token is removed durably and
//        audited (`api_token.revoke`); `not_found` for an id the tenant has not.
//   (authenticate_token_atom, secret) -> session_info of the token's owner, limited to its tenant
//        (`token_tenant`), or `unauthenticated` for an unknown or revoked token or an owner that
//        is gone or disabled.
//   (link_ehr_user_atom, ehr_link_request) -> the account, linked (durable; the caller checked
//        the right to do it): `not_found` for an unknown account, `conflict` when the account
//        is linked to another user in that tenant or another account has that user there.
//   (ehr_sign_in_atom, tenant, ehr user) -> signed_in: a session for the account linked to that
//        EHR user in that tenant (the caller verified the EHR's id_token); `not_found` when no
//        account is linked (the provider must link once), `forbidden` when it is disabled.

#include "actors/account_messages.hpp"
#include "actors/messages.hpp"
#include "domain/account.hpp"
#include "domain/time.hpp"
#include "storage/accounts.hpp"
#include "storage/audit_log.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace visitd::storage {
class journal;
}

namespace visitd::actors {

using sign_in_atom = caf::atom_constant<caf::atom("asignin")>;
using authenticate_atom = caf::atom_constant<caf::atom("aauth")>;
using sign_out_atom = caf::atom_constant<caf::atom("asignout")>;
using create_account_atom = caf::atom_constant<caf::atom("acreate")>;
using link_ehr_user_atom = caf::atom_constant<caf::atom("alink")>;
using ehr_sign_in_atom = caf::atom_constant<caf::atom("aehrsignin")>;
using create_api_token_atom = caf::atom_constant<caf::atom("atokmake")>;
using list_api_tokens_atom = caf::atom_constant<caf::atom("atoklist")>;
using revoke_api_token_atom = caf::atom_constant<caf::atom("atokrevok")>;
using authenticate_token_atom = caf::atom_constant<caf::atom("atokauth")>;

using accounts_actor = caf::typed_actor<
  caf::replies_to<sign_in_atom, std::string, std::string, std::string>::with<signed_in>,
  caf::replies_to<authenticate_atom, std::string>::with<session_info>,
  caf::replies_to<sign_out_atom, std::string>::with<caf::ok_atom>,
  caf::replies_to<create_account_atom, new_account>::with<domain::account>,
  caf::replies_to<link_ehr_user_atom, ehr_link_request>::with<domain::account>,
  caf::replies_to<ehr_sign_in_atom, domain::tenant_id, domain::ehr_user_id>::with<signed_in>,
  caf::replies_to<create_api_token_atom, new_api_token>::with<issued_api_token>,
  caf::replies_to<list_api_tokens_atom, domain::tenant_id>::with<std::vector<domain::api_token>>,
  caf::replies_to<revoke_api_token_atom, api_token_revocation>::with<caf::ok_atom>,
  caf::replies_to<authenticate_token_atom, std::string>::with<session_info>>;

struct accounts_options {
  std::chrono::seconds session_lifetime{std::chrono::hours{12}};
  std::chrono::seconds session_idle{std::chrono::minutes{30}};
  /// Failed sign-ins allowed per account, and per remote address, within `failure_window`.
  std::size_t max_failures_per_account = 5;
  std::size_t max_failures_per_address = 20;
  std::chrono::seconds failure_window{std::chrono::minutes{15}};
  /// argon2id cost of new password hashes (auth/passwords.hpp; tests lower it).
  unsigned long long password_ops = 2;
  std::size_t password_memory_bytes = std::size_t{64} * 1024 * 1024;
  std::chrono::milliseconds request_timeout{std::chrono::seconds{10}};
};

struct accounts_args {
  storage::stored_accounts stored;      ///< As loaded at start.
  storage::journal* journal = nullptr;  ///< Must outlive the actor.
  std::function<domain::timestamp()> clock;
  accounts_options options;
  bool detached_checker = true;  ///< Tests on CAF's test coordinator turn this off.
  /// The box's one audit sequence, shared by every audit writer (made here when null).
  std::shared_ptr<storage::audit_sequence> audit_sequence;
};

[[nodiscard]] accounts_actor spawn_accounts_actor(caf::actor_system& system, accounts_args args);

}  // namespace visitd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::signed_in)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::session_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::new_account)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::ehr_link_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::domain::account)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::new_api_token)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::issued_api_token)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(visitd::actors::api_token_revocation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<visitd::domain::api_token>)
