#include "domain/audit.hpp"

#include "domain/tenant.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace visitd::domain {
namespace {

using testing::aid;
using testing::make_id;
using testing::t0;

struct fields {
  tenant_id tenant = make_id<tenant_id>("acme");
  account_id actor = aid("analyst");
  std::string action = "endpoint.approve";
  std::string target = "ep-1";
  timestamp at = t0;
  std::string before = R"({"state":"validated"})";
  std::string after = R"({"state":"approved"})";

  [[nodiscard]] result<audit_entry> make() const {
    return make_audit_entry(tenant, actor, action, target, at, before, after);
  }
};

TEST(audit, make_audit_entry_keeps_every_field) {
  const fields f;
  auto e = f.make();
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->tenant, f.tenant);
  EXPECT_EQ(e->actor, f.actor);
  EXPECT_EQ(e->action, f.action);
  EXPECT_EQ(e->target, f.target);
  EXPECT_EQ(e->at, f.at);
  EXPECT_EQ(e->before, f.before);
  EXPECT_EQ(e->after, f.after);
}

TEST(audit, accepts_the_edges) {
  fields f;
  f.tenant = box_tenant();  // an operator action on the box
  f.action = std::string(64, 'a');
  f.target = std::string(256, 't');
  f.at = timestamp{};
  f.before = std::string(max_audit_snapshot_bytes, '{');
  f.after.clear();
  auto e = f.make();
  EXPECT_TRUE(e) << e.err().message;
  f.action = "tenant.suspend_all-now";
  f.target.clear();
  f.before.clear();
  f.after = "\x01\xff not json: opaque";  // the domain does not interpret snapshots
  e = f.make();
  EXPECT_TRUE(e) << e.err().message;
}

TEST(audit, rejects_bad_fields_by_name) {
  auto expect_field = [](const fields& f, std::string_view field) {
    auto e = f.make();
    ASSERT_FALSE(e) << field;
    EXPECT_EQ(e.err().code, errc::invalid_argument);
    EXPECT_EQ(e.err().message.rfind(field, 0), 0u) << e.err().message;
  };
  fields f;
  f.tenant = tenant_id{};
  expect_field(f, "tenant");
  f = {};
  f.actor = account_id{};
  expect_field(f, "actor");
  for (const std::string& bad :
       std::vector<std::string>{"", "Endpoint.approve", "endpoint approve", "endpoint.approve2",
                                "endpoint/approve", std::string(65, 'a')}) {
    f = {};
    f.action = bad;
    expect_field(f, "action");
  }
  f = {};
  f.target = std::string(257, 't');
  expect_field(f, "target");
  f.target = "ep-1\nforged log line";
  expect_field(f, "target");
  f = {};
  f.at = timestamp{} - std::chrono::microseconds{1};
  expect_field(f, "at");
  f = {};
  f.before = std::string(max_audit_snapshot_bytes + 1, 'x');
  expect_field(f, "before");
  f = {};
  f.after = std::string(max_audit_snapshot_bytes + 1, 'x');
  expect_field(f, "after");
}

}  // namespace
}  // namespace visitd::domain
