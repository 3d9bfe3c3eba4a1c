#include "fhir/authorization_secrets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

namespace visitd::fhir {
namespace {

bool is_base64url(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

TEST(authorization_secrets, are_43_base64url_characters_each) {
  auto secrets = make_authorization_secrets();
  ASSERT_TRUE(secrets) << secrets.err().message;
  // 32 bytes -> 43 characters without padding; RFC 7636 wants a verifier of 43..128.
  for (const auto* s :
       {&secrets->state, &secrets->nonce, &secrets->code_verifier, &secrets->code_challenge}) {
    EXPECT_EQ(s->size(), 43u) << *s;
    EXPECT_TRUE(is_base64url(*s)) << *s;
  }
  EXPECT_EQ(secrets->code_challenge, pkce_challenge(secrets->code_verifier));
}

TEST(authorization_secrets, are_independent_within_and_across_calls) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto secrets = make_authorization_secrets();
    ASSERT_TRUE(secrets) << secrets.err().message;
    EXPECT_TRUE(seen.insert(secrets->state).second);
    EXPECT_TRUE(seen.insert(secrets->nonce).second);
    EXPECT_TRUE(seen.insert(secrets->code_verifier).second);
  }
}

TEST(authorization_secrets, pkce_challenge_matches_rfc7636_appendix_b) {
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(authorization_secrets, base64url_matches_rfc7636_appendix_b_and_rfc4648) {
  // The verifier of RFC 7636 Appendix B is the base64url of these 32 octets.
  constexpr std::array<unsigned char, 32> octets{
    116, 24,  223, 180, 151, 153, 224, 37,  79, 250, 96, 125, 216, 173, 187, 186,
    22,  212, 37,  77,  105, 214, 191, 240, 91, 88,  5,  88,  83,  132, 141, 121};
  EXPECT_EQ(base64url_encode({reinterpret_cast<const char*>(octets.data()), octets.size()}),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  // RFC 4648 §10 vectors, without padding; and the two characters that differ from base64.
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(authorization_secrets, constant_time_equal_compares_content_and_length) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  // Every byte counts, not just those up to a NUL (it is not strcmp).
  EXPECT_TRUE(constant_time_equal(std::string_view{"ab\0x", 3}, std::string_view{"ab\0y", 3}));
  EXPECT_FALSE(constant_time_equal(std::string_view{"ab\0c", 4}, std::string_view{"ab\0d", 4}));
}

}  // namespace
}  // namespace visitd::fhir
