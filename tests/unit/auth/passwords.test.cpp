#include "auth/passwords.hpp"

#include <gtest/gtest.h>

#include <string>

namespace visitd::auth {
namespace {

// The smallest cost libsodium accepts keeps the tests fast; the rules are the same.
const password_cost cheap{1, 8192};

TEST(passwords, a_hash_verifies_its_password_only) {
  auto hash = hash_password("correct horse battery", cheap);
  ASSERT_TRUE(hash) << hash.err().message;
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password(*hash, "correct horse battery"));
  EXPECT_FALSE(verify_password(*hash, "correct horse batterY"));
  EXPECT_FALSE(verify_password(*hash, ""));
  EXPECT_FALSE(verify_password("not a hash", "correct horse battery"));
  EXPECT_FALSE(verify_password("", "correct horse battery"));
}

TEST(passwords, the_same_password_hashes_differently_each_time) {
  auto a = hash_password("correct horse battery", cheap);
  auto b = hash_password("correct horse battery", cheap);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b) << "no random salt";
}

TEST(passwords, rules_refuse_short_long_and_invalid_utf8_passwords) {
  for (const std::string& bad :
       {std::string{"short"}, std::string(max_password_bytes + 1, 'a'),
        std::string{"twelve chars\xff"}, std::string{"overlong \xc0\xaf xx"},
        std::string{"surrogate \xed\xa0\x80 x"}}) {
    auto refused = hash_password(bad, cheap);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.err().code, domain::errc::invalid_argument);
    EXPECT_EQ(refused.err().message.rfind("password:", 0), 0u) << refused.err().message;
  }
  EXPECT_TRUE(check_password_rules("Grüße aus Köln 🙂"));
}

TEST(passwords, a_hash_made_with_other_costs_needs_a_rehash) {
  auto hash = hash_password("correct horse battery", cheap);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(needs_rehash(*hash, cheap));
  EXPECT_TRUE(needs_rehash(*hash, password_cost{2, 16384}));
  EXPECT_TRUE(needs_rehash("garbage", cheap));
}

}  // namespace
}  // namespace visitd::auth
