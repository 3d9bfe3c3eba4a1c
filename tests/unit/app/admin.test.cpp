#include "app/admin.hpp"

#include "auth/passwords.hpp"
#include "storage/accounts.hpp"
#include "storage/audit_log.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace visitd::app {
namespace {

class create_operator_test : public ::testing::Test {
protected:
  create_operator_test() { settings_.data_dir = dir_.path(); }

  int run(const std::string& login, const std::string& password_line) {
    std::istringstream in{password_line};
    out_.str("");
    err_.str("");
    return create_operator(settings_, login, in, out_, err_);
  }

  std::unique_ptr<storage::store> open_store() {
    std::filesystem::create_directories(dir_.path());
    auto s = storage::open_rocksdb_store({dir_.path() + "/db", storage::durability::sync});
    EXPECT_TRUE(s) << s.err().message;
    return s ? std::move(*s) : nullptr;
  }

  storage::testing::temp_dir dir_{"visitd-admin"};
  config settings_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(create_operator_test, creates_an_operator_who_can_sign_in_and_audits_it) {
  ASSERT_EQ(run("Ops@Hospital.example", "a long enough secret\n"), 0) << err_.str();
  auto id = out_.str();
  ASSERT_FALSE(id.empty());
  id.pop_back();  // newline

  auto store = open_store();
  ASSERT_TRUE(store);
  auto found = storage::find_account_by_login(*store, "ops@hospital.example");
  ASSERT_TRUE(found && found->has_value()) << "the login is stored lowercased";
  const auto& account = **found;
  EXPECT_EQ(account.id.str(), id);
  EXPECT_TRUE(account.is_operator);
  EXPECT_TRUE(auth::verify_password(account.password_hash, "a long enough secret"));
  EXPECT_EQ(account.password_hash.find("a long enough secret"), std::string::npos);

  auto audit = storage::read_audit(*store, domain::box_tenant(), domain::timestamp{},
                                   domain::timestamp::max(), 10);
  ASSERT_TRUE(audit) << audit.err().message;
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().action, "operator.create");
  EXPECT_EQ(audit->front().actor, account.id);
}

TEST_F(create_operator_test, refuses_a_taken_login_a_weak_password_and_a_bad_login) {
  ASSERT_EQ(run("ops", "a long enough secret\n"), 0) << err_.str();
  EXPECT_EQ(run("OPS", "another long secret\n"), 1);
  EXPECT_NE(err_.str().find("login ops is taken"), std::string::npos) << err_.str();
  EXPECT_EQ(run("second", "short\n"), 1);
  EXPECT_NE(err_.str().find("password: at least 12"), std::string::npos) << err_.str();
  EXPECT_EQ(run("no spaces", "a long enough secret\n"), 1);
  EXPECT_NE(err_.str().find("login:"), std::string::npos) << err_.str();
}

TEST_F(create_operator_test, says_so_when_the_server_holds_the_store) {
  auto held = open_store();  // as a running server would
  ASSERT_TRUE(held);
  EXPECT_EQ(run("ops", "a long enough secret\n"), 1);
  EXPECT_NE(err_.str().find("is visitd running?"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace visitd::app
