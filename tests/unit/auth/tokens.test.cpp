#include "auth/tokens.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace visitd::auth {
namespace {

TEST(tokens, random_tokens_are_43_url_safe_characters_and_do_not_repeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = random_token();
    ASSERT_EQ(t.size(), 43u) << t;
    for (char c : t)
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
    ASSERT_TRUE(seen.insert(t).second) << "repeated token";
  }
}

TEST(tokens, digests_are_stable_hex_and_differ_per_token) {
  auto t = random_token();
  EXPECT_EQ(token_digest(t), token_digest(t));
  EXPECT_EQ(token_digest(t).size(), 64u);
  EXPECT_NE(token_digest(t), token_digest(t + "x"));
  EXPECT_EQ(token_digest(t).find_first_not_of("0123456789abcdef"), std::string::npos);
  // BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output).
  EXPECT_EQ(token_digest(""), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(tokens, constant_time_equal_compares_contents_and_lengths) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace visitd::auth
