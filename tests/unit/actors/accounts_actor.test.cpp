#include "actors/accounts_actor.hpp"

#include "auth/passwords.hpp"
#include "auth/tokens.hpp"
#include "storage/accounts.hpp"
#include "storage/audit_log.hpp"
#include "tests/unit/actors/actor_test_support.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

namespace visitd::actors {
namespace {

using namespace std::chrono_literals;
using storage::testing::at;
using storage::testing::id;
using testing::asker;
using testing::fake_journal;
using testing::outcome;

const std::string operator_password = "operator password 1";
const std::string provider_password = "provider password 1";

/// The accounts actor on CAF's test coordinator over a real RocksDB store, with a journal the
/// test completes by hand (writing each group to the store, like the real one).
class accounts_test : public testing::coordinator_test {
protected:
  accounts_test() : coordinator_test("visitd-accounts") {
    seed("op-1", "ops", operator_password, true);
    seed("dr-1", "doc", provider_password, false);
  }

  ~accounts_test() override {
    if (actor_) caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  }

  void seed(std::string_view account, std::string_view login, const std::string& password,
            bool is_operator) {
    auto hash = auth::hash_password(password, cheap_);
    ASSERT_TRUE(hash);
    auto a =
      domain::make_account(id<domain::account_id>(account), login, *hash, is_operator, at(0));
    ASSERT_TRUE(a);
    ASSERT_TRUE(store_->write(storage::account_ops(nullptr, *a)));
  }

  /// Starts (or restarts) the actor from what the store holds.
  void start() {
    if (actor_) {
      caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
      sched_->run();
    }
    auto stored = storage::load_accounts(*store_);
    ASSERT_TRUE(stored) << stored.err().message;
    accounts_args args;
    args.stored = std::move(*stored);
    args.journal = &journal_;
    args.clock = [this] { return now_; };
    args.options.password_ops = cheap_.ops;
    args.options.password_memory_bytes = cheap_.memory_bytes;
    args.detached_checker = false;
    actor_ = spawn_accounts_actor(*sys_, std::move(args));
    sched_->run();
  }

  template <class Reply, class... Ts>
  std::shared_ptr<outcome<Reply>> ask(const Ts&... xs) {
    auto out = std::make_shared<outcome<Reply>>();
    sys_->spawn(asker<Reply, accounts_actor, Ts...>, actor_, out, caf::timespan{30s}, xs...);
    sched_->run();
    return out;
  }

  std::shared_ptr<outcome<signed_in>> sign_in(const std::string& login, const std::string& password,
                                              const std::string& address = "10.0.0.1") {
    auto out = ask<signed_in>(sign_in_atom::value, login, password, address);
    settle();
    return out;
  }

  std::shared_ptr<outcome<session_info>> authenticate(const std::string& token) {
    auto out = ask<session_info>(authenticate_atom::value, token);
    settle();
    return out;
  }

  const auth::password_cost cheap_{1, 8192};
  accounts_actor actor_;
  domain::timestamp now_ = at(100);
};

TEST_F(accounts_test, signs_in_durably_and_the_session_authenticates_requests) {
  start();
  auto pending = ask<signed_in>(sign_in_atom::value, std::string{"OPS"}, operator_password,
                                std::string{"10.0.0.1"});
  EXPECT_FALSE(pending->done()) << "answered before the session was durable";
  settle();
  ASSERT_TRUE(pending->reply) << pending->error->message;
  const auto& s = *pending->reply;
  EXPECT_EQ(s.account.str(), "op-1");
  EXPECT_TRUE(s.is_operator);
  EXPECT_EQ(s.expires_at, now_ + 12h);
  EXPECT_NE(s.session_token, s.csrf_token);

  auto stored = storage::load_accounts(*store_);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->sessions.size(), 1u);
  EXPECT_EQ(stored->sessions[0].token_digest, auth::token_digest(s.session_token));
  EXPECT_EQ(stored->sessions[0].csrf_digest, auth::token_digest(s.csrf_token));

  auto who = authenticate(s.session_token);
  ASSERT_TRUE(who->reply) << who->error->message;
  EXPECT_EQ(who->reply->account.str(), "op-1");
  EXPECT_EQ(who->reply->csrf_digest, auth::token_digest(s.csrf_token));

  auto nobody = authenticate(auth::random_token());
  ASSERT_TRUE(nobody->error);
  EXPECT_EQ(nobody->error->code, domain::errc::unauthenticated);
}

TEST_F(accounts_test, wrong_password_unknown_login_and_oversized_password_look_the_same) {
  start();
  std::vector<domain::error> errors;
  for (auto [login, password] :
       {std::pair{"ops", "not the password"}, std::pair{"nobody", operator_password.c_str()}}) {
    auto out = sign_in(login, password);
    ASSERT_TRUE(out->error) << login;
    errors.push_back(*out->error);
  }
  auto huge = sign_in("ops", std::string(auth::max_password_bytes + 1, 'x'));
  ASSERT_TRUE(huge->error);
  errors.push_back(*huge->error);
  for (const auto& e : errors) {
    EXPECT_EQ(e.code, domain::errc::unauthenticated);
    EXPECT_EQ(e.message, "login or password is wrong");
  }
  EXPECT_TRUE(storage::load_accounts(*store_)->sessions.empty());
}

TEST_F(accounts_test, failed_sign_ins_are_rate_limited_per_account_and_per_address) {
  start();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sign_in("doc", "wrong password!", "10.0.0.9")->error);
  auto locked = sign_in("doc", provider_password, "10.0.0.2");
  ASSERT_TRUE(locked->error);
  EXPECT_EQ(locked->error->code, domain::errc::rate_limited) << "the right password is not enough";
  EXPECT_TRUE(sign_in("ops", operator_password, "10.0.0.2")->reply) << "other accounts are not";

  now_ += 16min;  // the window passed
  EXPECT_TRUE(sign_in("doc", provider_password, "10.0.0.2")->reply);

  // 20 failures from one address, spread over logins, lock the address.
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(sign_in("user" + std::to_string(i), "wrong password!", "10.6.6.6")->error);
  auto from_there = sign_in("ops", operator_password, "10.6.6.6");
  ASSERT_TRUE(from_there->error);
  EXPECT_EQ(from_there->error->code, domain::errc::rate_limited);
  EXPECT_TRUE(sign_in("ops", operator_password, "10.0.0.3")->reply);
}

TEST_F(accounts_test, sessions_expire_when_idle_or_old_and_sign_out_ends_them_durably) {
  start();
  auto s = sign_in("doc", provider_password)->reply.value();
  now_ += 29min;
  EXPECT_TRUE(authenticate(s.session_token)->reply);
  now_ += 31min;  // idle for longer than 30 min
  auto idle = authenticate(s.session_token);
  ASSERT_TRUE(idle->error);
  EXPECT_EQ(idle->error->code, domain::errc::unauthenticated);
  EXPECT_TRUE(storage::load_accounts(*store_)->sessions.empty()) << "an expired session stays";

  auto old = sign_in("doc", provider_password)->reply.value();
  for (int i = 0; i < 30; ++i) {  // active every 29 min, until past the 12 h lifetime
    now_ += 29min;
    if (!authenticate(old.session_token)->reply) break;
  }
  EXPECT_TRUE(authenticate(old.session_token)->error);

  auto ended = sign_in("doc", provider_password)->reply.value();
  auto out = ask<caf::ok_atom>(sign_out_atom::value, ended.session_token);
  settle();
  EXPECT_TRUE(out->reply);
  EXPECT_TRUE(authenticate(ended.session_token)->error);
  EXPECT_TRUE(storage::load_accounts(*store_)->sessions.empty());
}

TEST_F(accounts_test, a_session_survives_a_restart) {
  start();
  auto s = sign_in("doc", provider_password)->reply.value();
  start();  // a new actor from the store, as after a restart
  auto who = authenticate(s.session_token);
  ASSERT_TRUE(who->reply) << who->error->message;
  EXPECT_EQ(who->reply->account.str(), "dr-1");
}

TEST_F(accounts_test, operators_create_accounts_and_the_creation_is_audited) {
  start();
  auto by_provider = ask<domain::account>(
    create_account_atom::value, new_account{id<domain::account_id>("dr-1"), "x1x", "", false});
  ASSERT_TRUE(by_provider->error);
  EXPECT_EQ(by_provider->error->code, domain::errc::forbidden);

  auto made = ask<domain::account>(
    create_account_atom::value,
    new_account{id<domain::account_id>("op-1"), "Admin.One", "admin password 1", false});
  settle();
  ASSERT_TRUE(made->reply) << made->error->message;
  EXPECT_EQ(made->reply->login, "admin.one");
  EXPECT_TRUE(made->reply->password_hash.empty()) << "the hash left the actor";
  EXPECT_TRUE(sign_in("admin.one", "admin password 1")->reply);

  auto taken = ask<domain::account>(create_account_atom::value,
                                    new_account{id<domain::account_id>("op-1"), "DOC", "", false});
  ASSERT_TRUE(taken->error);
  EXPECT_EQ(taken->error->code, domain::errc::conflict);
  auto weak = ask<domain::account>(
    create_account_atom::value, new_account{id<domain::account_id>("op-1"), "new", "short", false});
  ASSERT_TRUE(weak->error);
  EXPECT_EQ(weak->error->code, domain::errc::invalid_argument);

  auto audit = storage::read_audit(*store_, domain::box_tenant(), domain::timestamp{},
                                   domain::timestamp::max(), 10);
  ASSERT_TRUE(audit);
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().action, "account.create");
  EXPECT_EQ(audit->front().actor.str(), "op-1");
  EXPECT_EQ(audit->front().target, made->reply->id.str());
}

TEST_F(accounts_test, an_ehr_user_signs_in_as_the_account_linked_to_them_in_that_tenant_only) {
  start();
  const auto acme = id<domain::tenant_id>("acme");
  const auto user = id<domain::ehr_user_id>("Practitioner/p-7");
  auto before = ask<signed_in>(ehr_sign_in_atom::value, acme, user);
  ASSERT_TRUE(before->error);
  EXPECT_EQ(before->error->code, domain::errc::not_found) << "nobody is linked yet";

  auto linked = ask<domain::account>(
    link_ehr_user_atom::value,
    ehr_link_request{id<domain::account_id>("dr-1"), acme, user, id<domain::account_id>("dr-1")});
  settle();
  ASSERT_TRUE(linked->reply) << linked->error->message;

  auto pending = ask<signed_in>(ehr_sign_in_atom::value, acme, user);
  EXPECT_FALSE(pending->done()) << "answered before the session was durable";
  settle();
  ASSERT_TRUE(pending->reply) << pending->error->message;
  EXPECT_EQ(pending->reply->account.str(), "dr-1");
  auto who = authenticate(pending->reply->session_token);
  ASSERT_TRUE(who->reply) << who->error->message;
  ASSERT_EQ(who->reply->ehr_links.size(), 1u);
  EXPECT_EQ(who->reply->ehr_links[0].user, user);

  auto elsewhere = ask<signed_in>(ehr_sign_in_atom::value, id<domain::tenant_id>("other"), user);
  ASSERT_TRUE(elsewhere->error);
  EXPECT_EQ(elsewhere->error->code, domain::errc::not_found) << "a link holds in its tenant only";
  auto stranger =
    ask<signed_in>(ehr_sign_in_atom::value, acme, id<domain::ehr_user_id>("Practitioner/p-8"));
  ASSERT_TRUE(stranger->error);
  EXPECT_EQ(stranger->error->code, domain::errc::not_found);
}

}  // namespace
}  // namespace visitd::actors
