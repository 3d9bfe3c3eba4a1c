#include "storage/accounts.hpp"

#include "domain/record_codec.hpp"
#include "storage/keys.hpp"
#include "storage/record_scan.hpp"

#include <set>
#include <string>

namespace visitd::storage {

using domain::errc;
using domain::make_error;

namespace {

constexpr char account_kind = 'a';
constexpr char login_kind = 'l';
constexpr char ehr_link_kind = 'e';
constexpr char session_kind = 's';
constexpr char api_token_kind = 't';

std::string key(char kind, std::string_view rest) {
  std::string k(1, kind);
  k.append(rest);
  return k;
}

std::string ehr_link_key(const domain::ehr_link& link) {
  std::string k(1, ehr_link_kind);
  k.append(link.tenant.str()).push_back(keys::separator);
  k.append(link.user.str());
  return k;
}

std::set<std::string> index_keys(const domain::account& a) {
  std::set<std::string> out{key(login_kind, a.login)};
  for (const auto& link : a.ehr_links) out.insert(ehr_link_key(link));
  return out;
}

}  // namespace

std::vector<write_op> account_ops(const domain::account* before, const domain::account& after) {
  std::vector<write_op> ops;
  ops.push_back(
    {column::accounts, key(account_kind, after.id.str()), domain::encode_record(after)});
  auto wanted = index_keys(after);
  if (before != nullptr)
    for (const auto& k : index_keys(*before))
      if (!wanted.contains(k)) ops.push_back({column::accounts, k, {}, op_kind::erase});
  for (const auto& k : wanted) ops.push_back({column::accounts, k, after.id.str()});
  return ops;
}

std::vector<write_op> session_ops(const domain::session& s) {
  return {{column::accounts, key(session_kind, s.token_digest), domain::encode_record(s)}};
}

std::vector<write_op> end_session_ops(std::string_view token_digest) {
  return {{column::accounts, key(session_kind, token_digest), {}, op_kind::erase}};
}

std::vector<write_op> api_token_ops(const domain::api_token& t) {
  return {{column::accounts, key(api_token_kind, t.token_digest), domain::encode_record(t)}};
}

std::vector<write_op> revoke_api_token_ops(std::string_view token_digest) {
  return {{column::accounts, key(api_token_kind, token_digest), {}, op_kind::erase}};
}

domain::result<stored_accounts> load_accounts(const store& source) {
  stored_accounts out;
  if (auto ok = scan_records(source, column::accounts, std::string(1, account_kind), "account",
                             domain::decode_account,
                             [&](domain::account a) { out.accounts.push_back(std::move(a)); });
      !ok)
    return std::move(ok).err();
  if (auto ok = scan_records(source, column::accounts, std::string(1, session_kind), "session",
                             domain::decode_session,
                             [&](domain::session x) { out.sessions.push_back(std::move(x)); });
      !ok)
    return std::move(ok).err();
  if (auto ok = scan_records(source, column::accounts, std::string(1, api_token_kind), "api token",
                             domain::decode_api_token,
                             [&](domain::api_token t) { out.api_tokens.push_back(std::move(t)); });
      !ok)
    return std::move(ok).err();
  return out;
}

domain::result<std::optional<domain::account>> find_account_by_login(const store& source,
                                                                     std::string_view login) {
  auto id = source.get(column::accounts, key(login_kind, login));
  if (!id) {
    if (id.err().code == errc::not_found) return std::optional<domain::account>{};
    return std::move(id).err();
  }
  auto bytes = source.get(column::accounts, key(account_kind, *id));
  if (!bytes)
    return make_error(errc::storage_failure,
                      "login index names account " + *id + " which is not stored");
  auto a = domain::decode_account(*bytes);
  if (!a)
    return make_error(errc::storage_failure,
                      "account record " + *id + " is corrupt: " + a.err().message);
  return std::optional<domain::account>{std::move(*a)};
}

}  // namespace visitd::storage
