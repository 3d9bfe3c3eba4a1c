#include "storage/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace visitd::storage::keys {
namespace {

TEST(keys, u64_round_trips_and_orders_like_numbers) {
  std::mt19937_64 rng{42};
  std::vector<std::uint64_t> values{0, 1, 255, 256, UINT64_MAX};
  for (int i = 0; i < 1000; ++i) values.push_back(rng());
  std::vector<std::string> encoded;
  for (auto v : values) {
    std::string bytes;
    append_u64(bytes, v);
    EXPECT_EQ(read_u64(bytes), v);
    encoded.push_back(bytes);
  }
  auto by_number = values;
  std::sort(by_number.begin(), by_number.end());
  std::sort(encoded.begin(), encoded.end());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(read_u64(encoded[i]), by_number[i]);
  EXPECT_FALSE(read_u64("short"));
}

TEST(keys, event_keys_sort_by_visit_then_sequence) {
  // "v1" and "v10": the separator keeps v1's events together and before v10's.
  std::vector<std::string> keys{event("v10", 1), event("v1", 300), event("v1", 2), event("v1", 1)};
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{event("v1", 1), event("v1", 2), event("v1", 300),
                                            event("v10", 1)}));
  for (const auto& k : {event("v1", 1), event("v1", 300)}) {
    EXPECT_EQ(k.rfind(event_prefix("v1"), 0), 0u);
    EXPECT_LT(k, event_prefix_end("v1"));
  }
  EXPECT_GE(event("v10", 1), event_prefix_end("v1"));
}

TEST(keys, parse_event_inverts_event) {
  auto key = event("visit-7", 123456789);  // parse_event returns views into the key
  auto parsed = parse_event(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, "visit-7");
  EXPECT_EQ(parsed->second, 123456789u);
  EXPECT_FALSE(parse_event("no-separator-here"));
  EXPECT_FALSE(parse_event(""));
}

TEST(keys, report_keys_group_by_tenant_then_day) {
  EXPECT_LT(report("t1", 10, "zzz"), report("t1", 11, "aaa"));
  EXPECT_LT(report("t1", 99999, "v"), report("t10", 0, "v"));
  EXPECT_EQ(report("t1", 10, "v").rfind(report_day_start("t1", 10), 0), 0u);
}

}  // namespace
}  // namespace visitd::storage::keys
