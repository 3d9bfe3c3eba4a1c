#include "domain/error.hpp"

#include <gtest/gtest.h>

namespace visitd::domain {
namespace {

TEST(result, holds_value_or_error) {
  result<int> ok = 42;
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 42);

  result<int> failed = make_error(errc::not_found, "no tenant t1");
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.err().code, errc::not_found);
  EXPECT_EQ(failed.err().message, "no tenant t1");
}

TEST(result, void_result) {
  result<void> ok;
  EXPECT_TRUE(ok.has_value());
  result<void> failed = make_error(errc::conflict, "already approved");
  EXPECT_FALSE(failed.has_value());
  EXPECT_EQ(failed.err().code, errc::conflict);
}

TEST(errc, names_are_snake_case_and_distinct) {
  EXPECT_EQ(to_string(errc::invalid_argument), "invalid_argument");
  EXPECT_EQ(to_string(errc::storage_failure), "storage_failure");
  EXPECT_NE(to_string(errc::timeout), to_string(errc::unavailable));
  EXPECT_EQ(to_string(errc::rate_limited), "rate_limited");
  EXPECT_EQ(to_string(last_errc), "rate_limited") << "last_errc must name the last code";
}

}  // namespace
}  // namespace visitd::domain
