#include "domain/ids.hpp"

#include <gtest/gtest.h>

#include <string>

namespace visitd::domain {
namespace {

TEST(ids, accepts_url_safe_text) {
  auto id = tenant_id::parse("Acme-Health_01.test");
  ASSERT_TRUE(id.has_value()) << id.err().message;
  EXPECT_EQ(id->str(), "Acme-Health_01.test");
  EXPECT_FALSE(id->empty());
}

TEST(ids, rejects_empty_and_names_the_field) {
  auto id = visit_id::parse("");
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.err().code, errc::invalid_argument);
  EXPECT_NE(id.err().message.find("visit_id"), std::string::npos);
}

TEST(ids, length_limit_is_64_for_opaque_ids) {
  EXPECT_TRUE(device_id::parse(std::string(64, 'a')).has_value());
  auto too_long = device_id::parse(std::string(65, 'a'));
  ASSERT_FALSE(too_long.has_value());
  EXPECT_NE(too_long.err().message.find("device_id"), std::string::npos);
}

TEST(ids, rejects_characters_outside_the_url_safe_set) {
  for (const char* bad : {"a b", "a/b", "a?b", "a%20", "é", "a:b", "a\nb", "a+b"}) {
    auto id = participant_id::parse(bad);
    ASSERT_FALSE(id.has_value()) << bad;
    EXPECT_EQ(id.err().code, errc::invalid_argument);
    EXPECT_NE(id.err().message.find("participant_id"), std::string::npos);
  }
}

TEST(ids, ehr_user_id_allows_slashes_between_segments_up_to_256) {
  EXPECT_TRUE(ehr_user_id::parse("Practitioner/123").has_value());
  EXPECT_TRUE(ehr_user_id::parse("Patient/abc-9.x").has_value());
  EXPECT_TRUE(ehr_user_id::parse(std::string(256, 'p')).has_value());
  EXPECT_FALSE(ehr_user_id::parse(std::string(257, 'p')).has_value());
  for (const char* bad : {"/Practitioner/1", "Practitioner/", "Practitioner//1", "a b/1"}) {
    auto id = ehr_user_id::parse(bad);
    ASSERT_FALSE(id.has_value()) << bad;
    EXPECT_NE(id.err().message.find("ehr_user_id"), std::string::npos);
  }
}

TEST(ids, join_id_does_not_allow_slashes) {
  EXPECT_FALSE(join_id::parse("a/b").has_value());
  EXPECT_TRUE(join_id::parse("j-123").has_value());
}

TEST(ids, compare_and_order_by_text) {
  auto a = account_id::parse("a").value();
  auto b = account_id::parse("b").value();
  EXPECT_LT(a, b);
  EXPECT_EQ(a, account_id::parse("a").value());
  EXPECT_NE(std::hash<account_id>{}(a), std::hash<account_id>{}(b));
}

TEST(ids, default_constructed_id_is_empty) {
  EXPECT_TRUE(endpoint_id{}.empty());
}

TEST(revision_number, starts_at_one_and_counts_up) {
  EXPECT_FALSE(revision_number::make(0).has_value());
  EXPECT_EQ(revision_number::make(0).err().code, errc::invalid_argument);
  auto one = revision_number::make(1).value();
  EXPECT_EQ(one.value(), 1U);
  EXPECT_EQ(one.next().value(), 2U);
  EXPECT_LT(one, one.next());
  EXPECT_EQ(revision_number{}, one);
}

}  // namespace
}  // namespace visitd::domain
