// A tenant's write-back policy: the coding rules, who may set it, and that it survives the
// operator's profile edits.

#include "domain/write_back_policy.hpp"

#include "domain/tenant.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace visitd::domain {
namespace {

using testing::aid;
using testing::make_id;
using testing::must;

tenant clinic() {
  return must(make_tenant(make_id<tenant_id>("clinic"), "Clinic", "eu-west", {aid("adm")},
                          aid("apr"), ehr_kind::epic));
}

/// The message of `validate_coding(c, "f")`'s refusal ("" when it accepts).
std::string refusal(const coding& c) {
  auto ok = validate_coding(c, "f");
  if (ok) return {};
  EXPECT_EQ(ok.err().code, errc::invalid_argument);
  return ok.err().message;
}

TEST(write_back_policy, the_default_writes_everything_with_dicom_codes) {
  const write_back_policy policy;
  EXPECT_EQ(policy.writes, (write_back_targets{true, true, true}));
  EXPECT_EQ(policy.codes.type.code, "110114");
  EXPECT_EQ(policy.codes.connected.code, "110122");
  EXPECT_EQ(policy.codes.disconnected.code, "110123");
  EXPECT_EQ(policy.codes.type.system, "http://dicom.nema.org/resources/ontology/DCM");
  EXPECT_TRUE(validate_write_back_policy(policy));
  EXPECT_EQ(clinic().write_back, policy) << "a new tenant has the default";
}

TEST(write_back_policy, both_keeps_a_write_only_when_each_side_allows_it) {
  EXPECT_EQ(both({true, true, false}, {true, false, true}),
            (write_back_targets{true, false, false}));
  EXPECT_EQ(both({}, {}), write_back_targets{});
}

TEST(write_back_policy, codings_follow_fhirs_rules) {
  EXPECT_EQ(refusal({"urn:oid:1.2.840", "VV-IN", "Joined"}), "");
  EXPECT_EQ(refusal({"https://ehr.example.org/cs", "a b", ""}), "") << "inner single spaces";
  EXPECT_EQ(refusal({"http://x", std::string(max_coding_code_bytes, 'c'),
                     std::string(max_coding_display_bytes, 'd')}),
            "");

  EXPECT_EQ(refusal({"", "c", ""}), "f.system must be 1..256 bytes");
  EXPECT_EQ(refusal({"http://" + std::string(250, 's'), "c", ""}), "f.system must be 1..256 bytes");
  EXPECT_EQ(refusal({"no scheme", "c", ""}),
            "f.system must not contain whitespace or control characters");
  EXPECT_EQ(refusal({"dicom", "c", ""}),
            "f.system must be an absolute URI such as http://… or urn:…");
  EXPECT_EQ(refusal({"1http://x", "c", ""}),
            "f.system must be an absolute URI such as http://… or urn:…");
  EXPECT_EQ(refusal({"urn:", "c", ""}),
            "f.system must be an absolute URI such as http://… or urn:…");

  EXPECT_EQ(refusal({"urn:x", "", ""}), "f.code must be 1..64 bytes");
  EXPECT_EQ(refusal({"urn:x", std::string(65, 'c'), ""}), "f.code must be 1..64 bytes");
  EXPECT_EQ(refusal({"urn:x", "a\tb", ""}), "f.code must not contain control characters");
  for (const auto* code : {" a", "a ", "a  b"})
    EXPECT_EQ(refusal({"urn:x", code, ""}),
              "f.code must not have leading, trailing or doubled spaces")
      << code;

  EXPECT_EQ(refusal({"urn:x", "c", std::string(201, 'd')}), "f.display must be at most 200 bytes");
  EXPECT_EQ(refusal({"urn:x", "c", "line\nbreak"}),
            "f.display must not contain control characters");
}

TEST(write_back_policy, the_error_names_the_coding) {
  write_back_policy policy;
  policy.codes.disconnected.code.clear();
  auto ok = validate_write_back_policy(policy);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.err().message, "audit_event_codes.disconnected.code must be 1..64 bytes");
  policy = {};
  policy.codes.device_test.system = "x";
  ok = validate_write_back_policy(policy);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.err().message.find("audit_event_codes.device_test.system"), std::string::npos);
}

TEST(write_back_policy, an_admin_sets_it) {
  auto t = clinic();
  write_back_policy policy;
  policy.writes.appointments = false;
  policy.codes.connected = {"urn:oid:1.2.3", "IN", "Joined"};
  ASSERT_TRUE(set_write_back_policy(t, aid("adm"), policy));
  EXPECT_EQ(t.write_back, policy);
}

TEST(write_back_policy, nobody_else_sets_it_and_a_refusal_changes_nothing) {
  auto t = clinic();
  write_back_policy policy;
  policy.writes.encounters = false;

  auto by_approver = set_write_back_policy(t, aid("apr"), policy);
  ASSERT_FALSE(by_approver);
  EXPECT_EQ(by_approver.err().code, errc::forbidden);

  policy.codes.type.code = " 110114";
  auto invalid = set_write_back_policy(t, aid("adm"), policy);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.err().code, errc::invalid_argument);

  policy.codes.type.code = "110114";
  must(suspend(t));
  auto suspended = set_write_back_policy(t, aid("adm"), policy);
  ASSERT_FALSE(suspended);
  EXPECT_EQ(suspended.err().code, errc::conflict);

  EXPECT_EQ(t.write_back, write_back_policy{});
}

TEST(write_back_policy, the_operators_profile_edit_keeps_it) {
  auto t = clinic();
  write_back_policy policy;
  policy.writes.audit_events = false;
  must(set_write_back_policy(t, aid("adm"), policy));
  auto edited = must(update_profile(t, std::string{"Clinic East"}, std::nullopt, std::nullopt));
  EXPECT_EQ(edited.display_name, "Clinic East");
  EXPECT_EQ(edited.write_back, policy);
}

}  // namespace
}  // namespace visitd::domain
