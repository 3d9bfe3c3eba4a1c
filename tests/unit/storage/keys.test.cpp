#include "storage/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
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

TEST(keys, audit_keys_sort_by_tenant_then_time_then_sequence) {
  std::vector<std::string> keys{audit("t10", 0, 0), audit("t1", 5, 0), audit("t1", 1, 7),
                                audit("t1", 1, 2), audit("t1", 256, 0)};
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{audit("t1", 1, 2), audit("t1", 1, 7), audit("t1", 5, 0),
                                            audit("t1", 256, 0), audit("t10", 0, 0)}));
  for (const auto& k : {audit("t1", 0, 0), audit("t1", UINT64_MAX, UINT32_MAX)}) {
    EXPECT_EQ(k.rfind(audit_prefix("t1"), 0), 0u);
    EXPECT_LT(k, audit_prefix_end("t1"));
  }
  EXPECT_GE(audit("t10", 0, 0), audit_prefix_end("t1"));
  EXPECT_LE(audit_time_start("t1", 5), audit("t1", 5, 0));
  EXPECT_GT(audit_time_start("t1", 5), audit("t1", 4, UINT32_MAX));
}

TEST(keys, parse_audit_inverts_audit) {
  auto key = audit("tenant-7", 0x0102030405060708, 0xa0b0c0d0);
  auto parsed = parse_audit(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<0>(*parsed), "tenant-7");
  EXPECT_EQ(std::get<1>(*parsed), 0x0102030405060708u);
  EXPECT_EQ(std::get<2>(*parsed), 0xa0b0c0d0u);
  EXPECT_FALSE(parse_audit(""));
  EXPECT_FALSE(parse_audit(audit_time_start("t", 1)));  // no sequence
  EXPECT_FALSE(parse_audit(audit("", 1, 1)));           // no tenant
  std::string two_separators = audit("a", 1, 1);
  two_separators.insert(0, std::string{"x\0", 2});
  EXPECT_FALSE(parse_audit(two_separators));
}

}  // namespace
}  // namespace visitd::storage::keys
