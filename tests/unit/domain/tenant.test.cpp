#include "domain/tenant.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace visitd::domain {
namespace {

using testing::aid;
using testing::make_id;

result<tenant> acme(std::vector<account_id> admins = {aid("adm")},
                    std::string_view region = "eu-west") {
  return make_tenant(make_id<tenant_id>("acme"), "Acme Health", region, std::move(admins),
                     aid("apr"), ehr_kind::epic);
}

TEST(tenant, make_tenant_accepts_valid_input) {
  auto t = acme();
  ASSERT_TRUE(t.has_value()) << t.err().message;
  EXPECT_EQ(t->status, tenant_status::active);
  EXPECT_TRUE(t->is_admin(aid("adm")));
  EXPECT_FALSE(t->is_admin(aid("apr")));
  EXPECT_TRUE(t->is_approver(aid("apr")));
  EXPECT_EQ(t->ehr, ehr_kind::epic);
}

TEST(tenant, admin_may_also_be_the_approver) {
  auto t = make_tenant(make_id<tenant_id>("solo"), "Solo Clinic", "us", {aid("one")}, aid("one"),
                       ehr_kind::generic_smart);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->is_admin(aid("one")));
  EXPECT_TRUE(t->is_approver(aid("one")));
}

TEST(tenant, make_tenant_rejects_bad_fields_by_name) {
  auto expect_field = [](const result<tenant>& r, std::string_view field) {
    ASSERT_FALSE(r.has_value()) << field;
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_NE(r.err().message.find(field), std::string::npos) << r.err().message;
  };
  expect_field(acme({}), "admins");
  expect_field(acme({aid("a"), aid("a")}), "admins");
  expect_field(acme({aid("a")}, "EU"), "region");
  expect_field(acme({aid("a")}, ""), "region");
  expect_field(acme({aid("a")}, std::string(33, 'a')), "region");
  expect_field(make_tenant(make_id<tenant_id>("x"), "", "us", {aid("a")}, aid("b"), ehr_kind::epic),
               "display_name");
  expect_field(make_tenant(make_id<tenant_id>("x"), std::string(201, 'n'), "us", {aid("a")},
                           aid("b"), ehr_kind::epic),
               "display_name");
  expect_field(
    make_tenant(make_id<tenant_id>("x"), "a\nb", "us", {aid("a")}, aid("b"), ehr_kind::epic),
    "display_name");
  expect_field(
    make_tenant(make_id<tenant_id>("x"), "X", "us", {aid("a")}, account_id{}, ehr_kind::epic),
    "approver");
}

TEST(tenant, the_box_tenant_id_is_reserved) {
  EXPECT_EQ(box_tenant().str(), box_tenant_text);
  EXPECT_TRUE(is_box_tenant(box_tenant()));
  EXPECT_FALSE(is_box_tenant(make_id<tenant_id>("acme")));
  auto t = make_tenant(box_tenant(), "Box", "eu", {aid("a")}, aid("a"), ehr_kind::epic);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.err().code, errc::invalid_argument);
  EXPECT_NE(t.err().message.find("tenant_id"), std::string::npos) << t.err().message;
  EXPECT_NE(t.err().message.find("reserved"), std::string::npos) << t.err().message;
}

TEST(tenant, suspend_and_reactivate) {
  auto t = acme().value();
  ASSERT_TRUE(suspend(t).has_value());
  EXPECT_EQ(t.status, tenant_status::suspended);
  EXPECT_EQ(suspend(t).err().code, errc::conflict);
  ASSERT_TRUE(reactivate(t).has_value());
  EXPECT_EQ(reactivate(t).err().code, errc::conflict);
}

TEST(tenant, only_an_admin_names_the_approver) {
  auto t = acme().value();
  EXPECT_EQ(set_approver(t, aid("apr"), aid("x")).err().code, errc::forbidden);
  EXPECT_EQ(t.approver, aid("apr"));
  ASSERT_TRUE(set_approver(t, aid("adm"), aid("new")).has_value());
  EXPECT_EQ(t.approver, aid("new"));
  ASSERT_TRUE(suspend(t).has_value());
  EXPECT_EQ(set_approver(t, aid("adm"), aid("x")).err().code, errc::conflict);
}

}  // namespace
}  // namespace visitd::domain

namespace visitd::domain {
namespace {

TEST(tenant, ehr_kinds_and_statuses_have_names_that_parse_back) {
  for (auto kind : {ehr_kind::generic_smart, ehr_kind::epic, ehr_kind::oracle_health})
    EXPECT_EQ(parse_ehr_kind(to_string(kind)).value(), kind);
  auto bad = parse_ehr_kind("cerner");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().message.rfind("ehr:", 0), 0u);
  EXPECT_EQ(to_string(tenant_status::active), "active");
  EXPECT_EQ(to_string(tenant_status::suspended), "suspended");
}

}  // namespace
}  // namespace visitd::domain
