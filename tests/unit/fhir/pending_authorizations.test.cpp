#include "fhir/pending_authorizations.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace visitd::fhir {
namespace {

using namespace std::chrono_literals;

const domain::timestamp t0{std::chrono::seconds{1'800'000'000}};

pending_authorization request_expiring(domain::timestamp at) {
  pending_authorization r;
  r.purpose = authorization_purpose::validation;
  r.code_verifier = "verifier";
  r.expires_at = at;
  return r;
}

TEST(pending_authorizations, a_state_is_taken_once_by_the_browser_that_started_it) {
  pending_authorizations registry;
  ASSERT_TRUE(registry.add("s1", "cookie-a", request_expiring(t0 + 10min), t0));
  auto taken = registry.take("s1", "cookie-a", t0 + 1min);
  ASSERT_TRUE(taken) << taken.err().message;
  EXPECT_EQ(taken->code_verifier, "verifier");
  auto again = registry.take("s1", "cookie-a", t0 + 1min);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.err().code, domain::errc::invalid_argument);
  EXPECT_EQ(registry.size(), 0U);
}

TEST(pending_authorizations, another_browser_uses_the_state_up_without_getting_it) {
  pending_authorizations registry;
  ASSERT_TRUE(registry.add("s1", "cookie-a", request_expiring(t0 + 10min), t0));
  auto stolen = registry.take("s1", "cookie-b", t0 + 1min);
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.err().code, domain::errc::forbidden);
  auto missing = registry.take("s1", "", t0 + 1min);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().code, domain::errc::invalid_argument) << "the state is used up";
}

TEST(pending_authorizations, an_expired_sign_in_is_refused_and_swept) {
  pending_authorizations registry;
  ASSERT_TRUE(registry.add("s1", "c", request_expiring(t0 + 1min), t0));
  auto late = registry.take("s1", "c", t0 + 1min);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.err().code, domain::errc::conflict);
  ASSERT_TRUE(registry.add("s2", "c", request_expiring(t0 + 1min), t0));
  ASSERT_TRUE(registry.add("s3", "c", request_expiring(t0 + 1h), t0 + 2min));
  EXPECT_EQ(registry.size(), 1U) << "s2 expired and is swept by a later add";
}

TEST(pending_authorizations, a_full_registry_refuses_new_sign_ins_until_some_expire) {
  pending_authorizations registry{{.capacity = 2}};
  ASSERT_TRUE(registry.add("s1", "c", request_expiring(t0 + 1min), t0));
  ASSERT_TRUE(registry.add("s2", "c", request_expiring(t0 + 1h), t0));
  auto full = registry.add("s3", "c", request_expiring(t0 + 1h), t0);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.err().code, domain::errc::rate_limited);
  EXPECT_TRUE(registry.add("s3", "c", request_expiring(t0 + 1h), t0 + 2min))
    << "s1 has expired, which makes room";
}

TEST(pending_authorizations, a_state_cannot_be_added_twice_or_empty) {
  pending_authorizations registry;
  ASSERT_TRUE(registry.add("s1", "c", request_expiring(t0 + 1h), t0));
  auto twice = registry.add("s1", "c", request_expiring(t0 + 1h), t0);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.err().code, domain::errc::conflict);
  EXPECT_FALSE(registry.add("", "c", request_expiring(t0 + 1h), t0));
  EXPECT_FALSE(registry.add("s2", "", request_expiring(t0 + 1h), t0));
}

}  // namespace
}  // namespace visitd::fhir
