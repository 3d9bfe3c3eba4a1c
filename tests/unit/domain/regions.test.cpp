#include "domain/regions.hpp"

#include "domain/tenant.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace visitd::domain {
namespace {

using testing::aid;
using testing::make_id;

region_list regions(std::string_view text) {
  auto list = make_region_list(text);
  EXPECT_TRUE(list) << list.err().message;
  return list ? std::move(list).value() : region_list{};
}

TEST(regions, parses_a_comma_separated_list_in_order) {
  EXPECT_EQ(regions("local").values(), std::vector<std::string>{"local"});
  const auto list = regions(" eu-west,us-east , ap-southeast-2 ");
  EXPECT_EQ(list.values(), (std::vector<std::string>{"eu-west", "us-east", "ap-southeast-2"}));
  EXPECT_TRUE(list.contains("us-east"));
  EXPECT_FALSE(list.contains("us"));
  EXPECT_FALSE(list.contains(""));
  EXPECT_EQ(list.to_string(), "eu-west, us-east, ap-southeast-2");
  EXPECT_EQ(regions(std::string(32, 'a')).values().front(), std::string(32, 'a'));
}

TEST(regions, rejects_empty_lists_entries_bad_tags_and_duplicates_naming_regions) {
  struct case_t {
    std::string text;
    std::string mentions;
  };
  const std::vector<case_t> cases{
    {"", "at least one"},           {"  ", "at least one"},      {",", "entry 1 is empty"},
    {"eu,,us", "entry 2 is empty"}, {"eu,", "entry 2 is empty"}, {"EU", "[a-z0-9-]"},
    {"eu,us_east", "\"us_east\""},  {"eu west", "[a-z0-9-]"},    {std::string(33, 'a'), "1..32"},
    {"eu,us,eu", "\"eu\" twice"},
  };
  for (const auto& c : cases) {
    auto list = make_region_list(c.text);
    ASSERT_FALSE(list) << '"' << c.text << '"';
    EXPECT_EQ(list.err().code, errc::invalid_argument);
    EXPECT_EQ(list.err().message.rfind("regions", 0), 0u) << list.err().message;
    EXPECT_NE(list.err().message.find(c.mentions), std::string::npos)
      << c.mentions << " not in: " << list.err().message;
  }
}

TEST(regions, require_known_region_names_the_field_and_the_allowed_values) {
  const auto list = regions("eu-west,us-east");
  EXPECT_TRUE(require_known_region(list, "eu-west"));
  auto unknown = require_known_region(list, "ap-1");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.err().code, errc::invalid_argument);
  EXPECT_EQ(unknown.err().message.rfind("region ", 0), 0u) << unknown.err().message;
  EXPECT_NE(unknown.err().message.find("\"ap-1\""), std::string::npos);
  EXPECT_NE(unknown.err().message.find("eu-west, us-east"), std::string::npos);
  // An empty (default) list allows nothing.
  EXPECT_FALSE(require_known_region(region_list{}, "local"));
}

TEST(regions, validate_region_tag_is_the_tenant_region_rule) {
  EXPECT_TRUE(validate_region_tag("eu-west-1", "region"));
  for (std::string_view bad : {"", "Eu", "eu.west", "eu/west"}) {
    auto r = validate_region_tag(bad, "region");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().message.rfind("region must be", 0), 0u) << r.err().message;
  }
}

// -- tenant creation through the configured list -----------------------------------------------

result<tenant> create(const region_list& list, std::string_view region) {
  return make_tenant_in(list, make_id<tenant_id>("acme"), "Acme Health", region, {aid("adm")},
                        aid("apr"), ehr_kind::epic);
}

TEST(regions, make_tenant_in_accepts_only_configured_regions) {
  const auto list = regions("eu-west,us-east");
  auto made = create(list, "us-east");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_EQ(made->region, "us-east");

  auto unknown = create(list, "ap-1");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.err().message.find("allowed: eu-west, us-east"), std::string::npos)
    << unknown.err().message;
  // A malformed tag gets the format message, not "not configured".
  auto malformed = create(list, "EU");
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.err().message.find("[a-z0-9-]"), std::string::npos);
  // Other fields are still checked.
  EXPECT_FALSE(make_tenant_in(list, make_id<tenant_id>("acme"), "", "eu-west", {aid("adm")},
                              aid("apr"), ehr_kind::epic));
}

TEST(regions, make_tenant_alone_does_not_need_the_list) {
  // Stored tenants decode through make_tenant; a region the operator removed must still load.
  auto t = make_tenant(make_id<tenant_id>("acme"), "Acme Health", "retired-region", {aid("adm")},
                       aid("apr"), ehr_kind::epic);
  EXPECT_TRUE(t) << t.err().message;
}

}  // namespace
}  // namespace visitd::domain
