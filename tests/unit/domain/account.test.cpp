#include "domain/account.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace visitd::domain {
namespace {

using testing::aid;
using testing::euid;
using testing::make_id;
using testing::must;
using testing::t0;

TEST(account, logins_are_lowercase_handles_of_3_to_64_characters) {
  for (std::string_view ok : {"abc", "ops@hospital.example", "e12345", "first.last+tag_1-x"})
    EXPECT_TRUE(validate_login(ok)) << ok;
  for (std::string_view bad : {"ab", "Upper", "with space", "semi;colon", "ünï", "a/b"}) {
    auto refused = validate_login(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.err().code, errc::invalid_argument);
    EXPECT_EQ(refused.err().message.rfind("login:", 0), 0u);
  }
  EXPECT_FALSE(validate_login(std::string(65, 'a')));
  EXPECT_TRUE(validate_login(std::string(64, 'a')));
}

TEST(account, normalizing_lowercases_ascii_letters_only) {
  EXPECT_EQ(normalize_login("Ops@Hospital.Example"), "ops@hospital.example");
  EXPECT_EQ(normalize_login("Ünï"), "Ünï") << "non-ASCII is left for validate_login to refuse";
}

TEST(account, a_new_account_is_active_and_unlinked) {
  auto a = must(make_account(aid("op-1"), "ops", "hash", true, t0));
  EXPECT_EQ(a.status, account_status::active);
  EXPECT_TRUE(a.is_operator);
  EXPECT_TRUE(a.ehr_links.empty());
  EXPECT_FALSE(make_account(account_id{}, "ops", "", false, t0));
}

TEST(account, one_ehr_user_per_tenant_and_relinking_the_same_user_changes_nothing) {
  auto a = must(make_account(aid("dr-7"), "e12345", "", false, t0));
  const auto acme = make_id<tenant_id>("acme");
  must(link_ehr_user(a, acme, euid("Practitioner/1")));
  must(link_ehr_user(a, acme, euid("Practitioner/1")));
  EXPECT_EQ(a.ehr_links.size(), 1u);
  auto other_user = link_ehr_user(a, acme, euid("Practitioner/2"));
  ASSERT_FALSE(other_user);
  EXPECT_EQ(other_user.err().code, errc::conflict);
  must(link_ehr_user(a, make_id<tenant_id>("other"), euid("Practitioner/2")));
  ASSERT_NE(a.ehr_user_in(acme), nullptr);
  EXPECT_EQ(a.ehr_user_in(acme)->str(), "Practitioner/1");
  EXPECT_EQ(a.ehr_user_in(make_id<tenant_id>("none")), nullptr);
}

}  // namespace
}  // namespace visitd::domain
