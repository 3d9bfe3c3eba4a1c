#include "actors/accounts_actor.hpp"

#include "actors/journal_ack.hpp"
#include "auth/passwords.hpp"
#include "auth/tokens.hpp"
#include "domain/audit.hpp"
#include "domain/record_json.hpp"
#include "domain/tenant.hpp"
#include "storage/audit_log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

namespace visitd::actors {

namespace {

// -- password checker (detached: argon2id takes tens of milliseconds) ----------------------------

using check_password_atom = caf::atom_constant<caf::atom("pwcheck")>;
using hash_password_atom = caf::atom_constant<caf::atom("pwhash")>;

/// (check, stored hash, password) -> whether it matches; an empty hash is checked against a
/// hash of a random password, so an unknown login costs as much as a known one.
/// (hash, password, ops, memory) -> a new hash, or the password rules' error.
using password_checker = caf::typed_actor<
  caf::replies_to<check_password_atom, std::string, std::string>::with<bool>,
  caf::replies_to<hash_password_atom, std::string, std::uint64_t, std::size_t>::with<std::string>>;

password_checker::behavior_type checker_behavior(password_checker::pointer self,
                                                 const accounts_options& options) {
  auto dummy = std::make_shared<std::string>();
  return {
    [options, dummy](check_password_atom, const std::string& stored,
                     const std::string& password) -> bool {
      if (!stored.empty()) return auth::verify_password(stored, password);
      if (dummy->empty()) {
        auto made = auth::hash_password(auth::random_token(),
                                        {options.password_ops, options.password_memory_bytes});
        if (made) *dummy = std::move(*made);
      }
      (void)auth::verify_password(*dummy, password);
      return false;
    },
    [self](hash_password_atom, const std::string& password, std::uint64_t ops,
           std::size_t memory) -> caf::result<std::string> {
      (void)self;
      auto made = auth::hash_password(password, {ops, memory});
      if (!made) return to_caf_error(made.err());
      return std::move(*made);
    },
  };
}

// -- accounts ------------------------------------------------------------------------------------

using sweep_sessions_atom = caf::atom_constant<caf::atom("asweep")>;

using accounts_impl =
  accounts_actor::extend<caf::reacts_to<journal_ack_atom, std::uint64_t, caf::error>,
                         caf::reacts_to<journal_timeout_atom, std::uint64_t>,
                         caf::reacts_to<sweep_sessions_atom>>;

struct live_session {
  domain::session stored;
  domain::timestamp last_seen;
};

using write_continuation = pending_writes::continuation;

struct accounts_state {
  static inline const char* name = "visitd.accounts";

  storage::journal* journal = nullptr;
  std::function<domain::timestamp()> clock;
  accounts_options options;
  password_checker checker;
  std::unordered_map<domain::account_id, domain::account> accounts;
  std::unordered_map<std::string, domain::account_id> by_login;
  std::unordered_map<std::string, live_session> sessions;         ///< By token digest.
  std::unordered_map<std::string, domain::api_token> api_tokens;  ///< By token digest.
  std::unordered_map<std::string, std::deque<domain::timestamp>> failures_by_login;
  std::unordered_map<std::string, std::deque<domain::timestamp>> failures_by_address;
  pending_writes writes;
  std::shared_ptr<storage::audit_sequence> audit_sequence;
};

using self_pointer = accounts_impl::stateful_pointer<accounts_state>;

void write(self_pointer self, std::vector<storage::write_op> ops, write_continuation then) {
  auto& st = self->state;
  auto id = st.writes.add(std::move(then));
  append_with_ack<accounts_impl>(self, *st.journal, std::move(ops), id, st.options.request_timeout);
}

// -- rate limiting -------------------------------------------------------------------------------

void forget_old(std::deque<domain::timestamp>& failures, domain::timestamp cutoff) {
  while (!failures.empty() && failures.front() < cutoff) failures.pop_front();
}

/// Whether `key` has used up its failures; drops failures older than the window on the way.
bool limited(std::unordered_map<std::string, std::deque<domain::timestamp>>& failures,
             const std::string& key, std::size_t max, domain::timestamp cutoff) {
  auto it = failures.find(key);
  if (it == failures.end()) return false;
  forget_old(it->second, cutoff);
  if (it->second.empty()) {
    failures.erase(it);
    return false;
  }
  return it->second.size() >= max;
}

void record_failure(accounts_state& st, const std::string& login, const std::string& address,
                    domain::timestamp now) {
  st.failures_by_login[login].push_back(now);
  st.failures_by_address[address].push_back(now);
}

// -- sign-in and sessions ------------------------------------------------------------------------

caf::error wrong_credentials() {
  return to_caf_error(domain::errc::unauthenticated, "login or password is wrong");
}

/// A new session for `account`, durable before `promise` is delivered.
void open_session(self_pointer self, caf::typed_response_promise<signed_in> promise,
                  const domain::account& account, std::string_view how) {
  auto& st = self->state;
  auto now = st.clock();
  signed_in out{auth::random_token(), auth::random_token(), account.id, account.is_operator,
                now + std::chrono::duration_cast<domain::duration>(st.options.session_lifetime)};
  domain::session s{auth::token_digest(out.session_token), account.id,
                    auth::token_digest(out.csrf_token), now, out.expires_at};
  write(self, storage::session_ops(s),
        [self, promise, s, out, how = std::string{how}](const caf::error& err) mutable {
          if (err) {
            promise.deliver(err);
            return;
          }
          self->state.sessions.insert_or_assign(s.token_digest, live_session{s, s.created_at});
          spdlog::info("signed in account={} by={}", s.account.str(), how);
          promise.deliver(std::move(out));
        });
}

/// The EHR vouched for `user` (a verified id_token of one of the tenant's approved endpoints):
/// a session for the active account linked to that user in that tenant, or `not_found` when
/// none is (the provider links their account once).
caf::result<signed_in> ehr_sign_in(self_pointer self, const domain::tenant_id& tenant,
                                   const domain::ehr_user_id& user) {
  auto& st = self->state;
  for (const auto& [id, account] : st.accounts) {
    const auto* linked = account.ehr_user_in(tenant);
    if (linked == nullptr || *linked != user) continue;
    if (account.status != domain::account_status::active)
      return to_caf_error(domain::errc::forbidden, "the linked account is disabled");
    auto promise = self->make_response_promise<signed_in>();
    open_session(self, promise, account, "ehr");
    return promise;
  }
  return to_caf_error(domain::errc::not_found,
                      "no account is linked to EHR user " + user.str() + " in this tenant");
}

caf::result<signed_in> sign_in(self_pointer self, const std::string& typed_login,
                               const std::string& password, const std::string& address) {
  auto& st = self->state;
  const auto login = domain::normalize_login(typed_login);
  const auto now = st.clock();
  const auto cutoff = now - std::chrono::duration_cast<domain::duration>(st.options.failure_window);
  if (limited(st.failures_by_login, login, st.options.max_failures_per_account, cutoff) ||
      limited(st.failures_by_address, address, st.options.max_failures_per_address, cutoff))
    return to_caf_error(domain::errc::rate_limited,
                        "too many failed sign-ins; try again in " +
                          std::to_string(st.options.failure_window.count() / 60) + " minutes");
  std::string stored_hash;
  if (auto it = st.by_login.find(login); it != st.by_login.end()) {
    const auto& a = st.accounts.at(it->second);
    if (a.status == domain::account_status::active) stored_hash = a.password_hash;
  }
  auto promise = self->make_response_promise<signed_in>();
  self
    ->request(st.checker, st.options.request_timeout, check_password_atom::value, stored_hash,
              password)
    .then(
      [self, promise, login, address, had_hash = !stored_hash.empty()](bool matches) mutable {
        auto& st = self->state;
        auto now = st.clock();
        auto it = st.by_login.find(login);
        if (!matches || !had_hash || it == st.by_login.end()) {
          record_failure(st, login, address, now);
          spdlog::info("sign-in refused login={} address={}", login, address);
          promise.deliver(wrong_credentials());
          return;
        }
        st.failures_by_login.erase(login);
        open_session(self, std::move(promise), st.accounts.at(it->second), "password");
      },
      [promise](caf::error& err) mutable { promise.deliver(err); });
  return promise;
}

/// Removes expired and idle sessions (memory at once, store in one write).
void sweep_sessions(self_pointer self) {
  auto& st = self->state;
  auto now = st.clock();
  auto idle = std::chrono::duration_cast<domain::duration>(st.options.session_idle);
  std::vector<storage::write_op> ops;
  for (auto it = st.sessions.begin(); it != st.sessions.end();) {
    if (now >= it->second.stored.expires_at || now - it->second.last_seen > idle) {
      auto end = storage::end_session_ops(it->first);
      ops.insert(ops.end(), end.begin(), end.end());
      it = st.sessions.erase(it);
    } else {
      ++it;
    }
  }
  if (!ops.empty()) write(self, std::move(ops), [](const caf::error&) {});
}

caf::result<session_info> authenticate(self_pointer self, const std::string& token) {
  auto& st = self->state;
  auto digest = auth::token_digest(token);
  auto it = st.sessions.find(digest);
  if (it == st.sessions.end()) return to_caf_error(domain::errc::unauthenticated, "not signed in");
  auto now = st.clock();
  auto& live = it->second;
  if (now >= live.stored.expires_at ||
      now - live.last_seen >
        std::chrono::duration_cast<domain::duration>(st.options.session_idle)) {
    write(self, storage::end_session_ops(digest), [](const caf::error&) {});
    st.sessions.erase(it);
    return to_caf_error(domain::errc::unauthenticated, "the session has expired; sign in again");
  }
  live.last_seen = now;
  auto account = st.accounts.find(live.stored.account);
  if (account == st.accounts.end() || account->second.status != domain::account_status::active)
    return to_caf_error(domain::errc::unauthenticated, "the account is disabled");
  return session_info{live.stored.account, account->second.is_operator, live.stored.csrf_digest,
                      live.stored.expires_at, account->second.ehr_links};
}

// -- API tokens -----------------------------------------------------------------------------------

/// What the audit log shows of a token: never its secret or digest.
std::string token_audit_json(const domain::api_token& t) {
  return domain::json_text(domain::api_token_json(t));
}

caf::result<issued_api_token> create_api_token(self_pointer self, const new_api_token& request) {
  auto& st = self->state;
  if (!st.accounts.contains(request.by))
    return to_caf_error(domain::errc::not_found, "no account " + request.by.str());
  auto secret = "vt_" + auth::random_token();
  auto made =
    domain::make_api_token("tok-" + auth::random_token().substr(0, 12), auth::token_digest(secret),
                           request.tenant, request.by, request.label, st.clock());
  if (!made) return to_caf_error(made.err());
  auto audit = domain::make_audit_entry(request.tenant, request.by, "api_token.create", made->id,
                                        made->created_at, "", token_audit_json(*made));
  if (!audit) return to_caf_error(audit.err());
  auto ops = storage::api_token_ops(*made);
  storage::add_audit_op(ops, *audit, *st.audit_sequence);
  auto promise = self->make_response_promise<issued_api_token>();
  write(self, std::move(ops),
        [self, promise,
         issued = issued_api_token{std::move(secret), *made}](const caf::error& err) mutable {
          if (err) {
            promise.deliver(err);
            return;
          }
          self->state.api_tokens.insert_or_assign(issued.token.token_digest, issued.token);
          promise.deliver(std::move(issued));
        });
  return promise;
}

std::vector<domain::api_token> list_api_tokens(const accounts_state& st,
                                               const domain::tenant_id& tenant) {
  std::vector<domain::api_token> out;
  for (const auto& [digest, t] : st.api_tokens)
    if (t.tenant == tenant) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

caf::result<caf::ok_atom> revoke_api_token(self_pointer self, const api_token_revocation& request) {
  auto& st = self->state;
  auto it = std::find_if(st.api_tokens.begin(), st.api_tokens.end(), [&](const auto& kv) {
    return kv.second.id == request.id && kv.second.tenant == request.tenant;
  });
  if (it == st.api_tokens.end())
    return to_caf_error(domain::errc::not_found, "no API token " + request.id);
  auto audit = domain::make_audit_entry(request.tenant, request.by, "api_token.revoke", request.id,
                                        st.clock(), token_audit_json(it->second), "");
  if (!audit) return to_caf_error(audit.err());
  auto digest = it->first;
  // Refused from now on, even before the revocation is durable: a token being revoked must not
  // be usable meanwhile. Should the write fail, the token stays revoked in memory until restart.
  st.api_tokens.erase(it);
  auto ops = storage::revoke_api_token_ops(digest);
  storage::add_audit_op(ops, *audit, *st.audit_sequence);
  auto promise = self->make_response_promise<caf::ok_atom>();
  write(self, std::move(ops), [promise](const caf::error& err) mutable {
    if (err)
      promise.deliver(err);
    else
      promise.deliver(caf::ok_atom::value);
  });
  return promise;
}

caf::result<session_info> authenticate_api_token(self_pointer self, const std::string& secret) {
  auto& st = self->state;
  auto it = st.api_tokens.find(auth::token_digest(secret));
  if (it == st.api_tokens.end())
    return to_caf_error(domain::errc::unauthenticated, "the API token is not valid");
  auto account = st.accounts.find(it->second.owner);
  if (account == st.accounts.end() || account->second.status != domain::account_status::active)
    return to_caf_error(domain::errc::unauthenticated, "the API token's account is disabled");
  session_info out{account->first, false, {}, domain::timestamp::max(), account->second.ehr_links};
  out.token_tenant = it->second.tenant;
  return out;
}

caf::result<caf::ok_atom> sign_out(self_pointer self, const std::string& token) {
  auto& st = self->state;
  auto digest = auth::token_digest(token);
  if (st.sessions.erase(digest) == 0) return caf::ok_atom::value;
  auto promise = self->make_response_promise<caf::ok_atom>();
  write(self, storage::end_session_ops(digest), [promise](const caf::error& err) mutable {
    if (err)
      promise.deliver(err);
    else
      promise.deliver(caf::ok_atom::value);
  });
  return promise;
}

// -- accounts ------------------------------------------------------------------------------------

void store_new_account(self_pointer self, caf::typed_response_promise<domain::account> promise,
                       const new_account& request, const std::string& login, std::string hash) {
  auto& st = self->state;
  if (st.by_login.contains(login)) {  // taken while the password was hashed
    promise.deliver(to_caf_error(domain::errc::conflict, "login " + login + " is taken"));
    return;
  }
  auto id = domain::account_id::parse("acc-" + auth::random_token().substr(0, 12));
  auto made =
    domain::make_account(std::move(*id), login, std::move(hash), request.is_operator, st.clock());
  if (!made) {
    promise.deliver(to_caf_error(made.err()));
    return;
  }
  auto ops = storage::account_ops(nullptr, *made);
  auto audit =
    domain::make_audit_entry(domain::box_tenant(), request.by, "account.create", made->id.str(),
                             made->created_at, "", domain::json_text(domain::account_json(*made)));
  if (!audit) {
    promise.deliver(to_caf_error(audit.err()));
    return;
  }
  storage::add_audit_op(ops, *audit, *st.audit_sequence);
  write(self, std::move(ops), [self, promise, account = *made](const caf::error& err) mutable {
    if (err) {
      promise.deliver(err);
      return;
    }
    auto& st = self->state;
    if (st.by_login.contains(account.login)) {
      promise.deliver(to_caf_error(domain::errc::conflict, "login " + account.login + " is taken"));
      return;
    }
    st.by_login.emplace(account.login, account.id);
    st.accounts.emplace(account.id, account);
    account.password_hash.clear();  // never leaves this actor
    promise.deliver(std::move(account));
  });
}

caf::result<domain::account> create_account(self_pointer self, const new_account& request) {
  auto& st = self->state;
  auto by = st.accounts.find(request.by);
  if (by == st.accounts.end() || !by->second.is_operator ||
      by->second.status != domain::account_status::active)
    return to_caf_error(domain::errc::forbidden, "only an operator creates accounts");
  auto login = domain::normalize_login(request.login);
  if (auto ok = domain::validate_login(login); !ok) return to_caf_error(ok.err());
  if (st.by_login.contains(login))
    return to_caf_error(domain::errc::conflict, "login " + login + " is taken");
  if (!request.password.empty())
    if (auto ok = auth::check_password_rules(request.password); !ok) return to_caf_error(ok.err());
  // From here on the promise carries the answer (a plain return value would be ignored).
  auto promise = self->make_response_promise<domain::account>();
  if (request.password.empty()) {
    store_new_account(self, promise, request, login, {});
    return promise;
  }
  self
    ->request(st.checker, st.options.request_timeout, hash_password_atom::value, request.password,
              static_cast<std::uint64_t>(st.options.password_ops), st.options.password_memory_bytes)
    .then(
      [self, promise, request, login](std::string& hash) mutable {
        store_new_account(self, promise, request, login, std::move(hash));
      },
      [promise](caf::error& err) mutable { promise.deliver(err); });
  return promise;
}

caf::result<domain::account> link_ehr_user(self_pointer self, const ehr_link_request& request) {
  auto& st = self->state;
  auto it = st.accounts.find(request.account);
  if (it == st.accounts.end())
    return to_caf_error(domain::errc::not_found, "no account " + request.account.str());
  for (const auto& [id, other] : st.accounts)
    if (id != request.account)
      if (const auto* user = other.ehr_user_in(request.tenant); user && *user == request.user)
        return to_caf_error(domain::errc::conflict,
                            "EHR user " + request.user.str() + " is linked to another account");
  auto after = it->second;
  if (auto ok = domain::link_ehr_user(after, request.tenant, request.user); !ok)
    return to_caf_error(ok.err());
  // Audited under the tenant: which account acts as which EHR user there, and who said so.
  std::string before;
  if (const auto* previous = it->second.ehr_user_in(request.tenant))
    before = domain::json_text(
      domain::ehr_link_json(request.account, domain::ehr_link{request.tenant, *previous}));
  auto audit =
    domain::make_audit_entry(request.tenant, request.by, "provider.link", request.account.str(),
                             st.clock(), std::move(before),
                             domain::json_text(domain::ehr_link_json(
                               request.account, domain::ehr_link{request.tenant, request.user})));
  if (!audit) return to_caf_error(audit.err());
  auto ops = storage::account_ops(&it->second, after);
  storage::add_audit_op(ops, *audit, *st.audit_sequence);
  auto promise = self->make_response_promise<domain::account>();
  write(self, std::move(ops), [self, promise, after](const caf::error& err) mutable {
    if (err) {
      promise.deliver(err);
      return;
    }
    self->state.accounts.insert_or_assign(after.id, after);
    after.password_hash.clear();
    promise.deliver(std::move(after));
  });
  return promise;
}

accounts_impl::behavior_type accounts_behavior(self_pointer self, const accounts_args& args) {
  auto& st = self->state;
  st.journal = args.journal;
  st.clock = args.clock;
  st.options = args.options;
  st.audit_sequence =
    args.audit_sequence ? args.audit_sequence : std::make_shared<storage::audit_sequence>();
  for (const auto& a : args.stored.accounts) {
    st.by_login.emplace(a.login, a.id);
    st.accounts.emplace(a.id, a);
  }
  // A restart counts as activity: idle time restarts from now rather than signing everyone out
  // whose last request was before it.
  for (const auto& s : args.stored.sessions)
    st.sessions.emplace(s.token_digest, live_session{s, st.clock()});
  for (const auto& t : args.stored.api_tokens) st.api_tokens.emplace(t.token_digest, t);
  if (args.detached_checker)
    st.checker = self->system().spawn<caf::detached>(checker_behavior, args.options);
  else
    st.checker = self->system().spawn(checker_behavior, args.options);
  self->link_to(st.checker);
  self->delayed_send(caf::actor_cast<accounts_impl>(self), std::chrono::minutes{10},
                     sweep_sessions_atom::value);
  return {
    [self](sign_in_atom, const std::string& login, const std::string& password,
           const std::string& address) { return sign_in(self, login, password, address); },
    [self](authenticate_atom, const std::string& token) { return authenticate(self, token); },
    [self](sign_out_atom, const std::string& token) { return sign_out(self, token); },
    [self](create_account_atom, const new_account& request) {
      return create_account(self, request);
    },
    [self](link_ehr_user_atom, const ehr_link_request& request) {
      return link_ehr_user(self, request);
    },
    [self](ehr_sign_in_atom, const domain::tenant_id& tenant, const domain::ehr_user_id& user) {
      return ehr_sign_in(self, tenant, user);
    },
    [self](create_api_token_atom, const new_api_token& request) {
      return create_api_token(self, request);
    },
    [self](list_api_tokens_atom, const domain::tenant_id& tenant) {
      return list_api_tokens(self->state, tenant);
    },
    [self](revoke_api_token_atom, const api_token_revocation& request) {
      return revoke_api_token(self, request);
    },
    [self](authenticate_token_atom, const std::string& secret) {
      return authenticate_api_token(self, secret);
    },
    [self](journal_ack_atom, std::uint64_t id, const caf::error& err) {
      self->state.writes.complete(id, err);
    },
    // The journal always acknowledges in the end; requesters bound their own wait.
    [](journal_timeout_atom, std::uint64_t) {},
    [self](sweep_sessions_atom) {
      sweep_sessions(self);
      self->delayed_send(caf::actor_cast<accounts_impl>(self), std::chrono::minutes{10},
                         sweep_sessions_atom::value);
    },
  };
}

}  // namespace

accounts_actor spawn_accounts_actor(caf::actor_system& system, accounts_args args) {
  // Spawned with its arguments (never argument-less: see actors/runtime.cpp on CAF 0.17.6).
  return caf::actor_cast<accounts_actor>(system.spawn(accounts_behavior, std::move(args)));
}

}  // namespace visitd::actors
