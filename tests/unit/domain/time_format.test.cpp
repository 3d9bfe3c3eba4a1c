#include "domain/time_format.hpp"

#include <gtest/gtest.h>

namespace visitd::domain {
namespace {

using namespace std::chrono;

TEST(time_format, formats_utc_with_microseconds_only_when_there_are_some) {
  const timestamp t{sys_days{year{2026} / November / 25} + 18h + 49min + 36s};
  EXPECT_EQ(format_rfc3339(t), "2026-11-25T18:49:36Z");
  EXPECT_EQ(format_rfc3339(t + microseconds{1234}), "2026-11-25T18:49:36.001234Z");
  EXPECT_EQ(format_rfc3339(timestamp{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(timestamp::max()), "9999-12-31T23:59:59.999999Z");
}

TEST(time_format, parses_what_it_formats_and_offsets) {
  const timestamp t{sys_days{year{2026} / November / 25} + 18h + 49min + 36s + microseconds{7}};
  EXPECT_EQ(parse_rfc3339(format_rfc3339(t), "f").value(), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25T19:49:36.000007+01:00", "f").value(), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25t13:19:36.000007123-05:30", "f").value(), t);
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z", "f").value(),
            timestamp{sys_days{year{2024} / February / 29}});
}

TEST(time_format, refuses_anything_else_naming_the_field) {
  for (std::string_view bad :
       {"", "2026-11-25", "2026-11-25T18:49:36", "2026-11-25T18:49:36+0100", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T18:60:00Z",
        "2026-11-25T18:49:60Z", "2026-11-25T18:49:36.Z", "2026-11-25T18:49:36.1234567890Z",
        "2026-11-25T18:49:36Zjunk", "2026-1-25T18:49:36Z", "２０２６-11-25T18:49:36Z"}) {
    auto r = parse_rfc3339(bad, "scheduled_start");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_EQ(r.err().message.rfind("scheduled_start: ", 0), 0u) << r.err().message;
  }
}

}  // namespace
}  // namespace visitd::domain
