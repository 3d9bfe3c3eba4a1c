#include "storage/accounts.hpp"

#include "store_fixture.hpp"

namespace visitd::storage {
namespace {

using namespace testing;
using namespace domain;

account make_test_account(std::string_view account, std::string_view login) {
  auto a = make_account(id<account_id>(account), login, "hash", false, at(0));
  EXPECT_TRUE(a) << a.err().message;
  return *a;
}

TEST_F(store_test, accounts_sessions_and_api_tokens_load_back_after_a_restart) {
  auto op = make_test_account("op-1", "ops");
  op.is_operator = true;
  auto dr = make_test_account("dr-7", "e12345");
  ASSERT_TRUE(link_ehr_user(dr, id<tenant_id>("acme"), id<ehr_user_id>("Practitioner/1")));
  ASSERT_TRUE(store_->write(account_ops(nullptr, op)));
  ASSERT_TRUE(store_->write(account_ops(nullptr, dr)));
  session s{"digest-1", op.id, "csrf-1", at(0), at(3600)};
  ASSERT_TRUE(store_->write(session_ops(s)));
  ASSERT_TRUE(store_->write(session_ops({"digest-2", dr.id, "csrf-2", at(0), at(60)})));
  ASSERT_TRUE(store_->write(end_session_ops("digest-2")));
  auto token = make_api_token("tok-AAAAAAAAAAAA", "token-digest-1", id<tenant_id>("acme"), dr.id,
                              "export", at(5));
  ASSERT_TRUE(token) << token.err().message;
  ASSERT_TRUE(store_->write(api_token_ops(*token)));
  auto revoked = make_api_token("tok-BBBBBBBBBBBB", "token-digest-2", id<tenant_id>("acme"), dr.id,
                                "old", at(6));
  ASSERT_TRUE(store_->write(api_token_ops(*revoked)));
  ASSERT_TRUE(store_->write(revoke_api_token_ops("token-digest-2")));
  reopen();

  auto loaded = load_accounts(*store_);
  ASSERT_TRUE(loaded) << loaded.err().message;
  ASSERT_EQ(loaded->accounts.size(), 2u) << "index entries must not load as accounts";
  EXPECT_EQ(loaded->accounts[0], dr);  // key order: account ids
  EXPECT_EQ(loaded->accounts[1], op);
  ASSERT_EQ(loaded->sessions.size(), 1u);
  EXPECT_EQ(loaded->sessions[0], s);
  ASSERT_EQ(loaded->api_tokens.size(), 1u) << "a revoked token is gone";
  EXPECT_EQ(loaded->api_tokens[0], *token);
}

TEST_F(store_test, the_login_index_follows_login_changes) {
  auto a = make_test_account("a-1", "old.login");
  ASSERT_TRUE(store_->write(account_ops(nullptr, a)));
  auto found = find_account_by_login(*store_, "old.login");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, a);

  auto renamed = a;
  renamed.login = "new.login";
  ASSERT_TRUE(store_->write(account_ops(&a, renamed)));
  auto old = find_account_by_login(*store_, "old.login");
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->has_value()) << "the old login still signs in";
  auto now = find_account_by_login(*store_, "new.login");
  ASSERT_TRUE(now && now->has_value());
  EXPECT_EQ((*now)->login, "new.login");
  auto none = find_account_by_login(*store_, "nobody");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST_F(store_test, a_corrupt_account_is_reported_with_its_key) {
  ASSERT_TRUE(store_->write(std::vector<write_op>{{column::accounts, "abad", "garbage"}}));
  auto loaded = load_accounts(*store_);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.err().code, errc::storage_failure);
  EXPECT_NE(loaded.err().message.find("account record abad"), std::string::npos)
    << loaded.err().message;
}

}  // namespace
}  // namespace visitd::storage
