// The body of PUT …/write-back-policy: the shape GET answers with reads back as the same policy,
// omitted members take their defaults, and every malformed body is refused naming the member.

#include "http/write_back_policy_body.hpp"

#include "domain/record_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace visitd::http {
namespace {

domain::write_back_policy parsed(std::string_view json) {
  auto r = parse_write_back_policy(json);
  if (const auto* err = std::get_if<body_error>(&r)) {
    ADD_FAILURE() << err->message;
    return {};
  }
  return std::get<domain::write_back_policy>(r);
}

/// The refusal of `json`: "<code>: <message>".
std::string refusal(std::string_view json) {
  auto r = parse_write_back_policy(json);
  const auto* err = std::get_if<body_error>(&r);
  if (err == nullptr) return "accepted";
  EXPECT_EQ(err->status, 400);
  return err->code + ": " + err->message;
}

TEST(write_back_policy_body, what_get_answers_reads_back_as_the_same_policy) {
  domain::write_back_policy policy;
  policy.writes = {true, false, true};
  policy.codes.type = {"urn:oid:1.2.3", "VV", "Video visit \xc3\xa9"};
  policy.codes.device_test = {"urn:x", "dt", ""};
  auto text = boost::json::serialize(domain::write_back_policy_json(policy));
  EXPECT_EQ(parsed(text), policy);
}

TEST(write_back_policy_body, omitted_members_take_their_defaults) {
  EXPECT_EQ(parsed("{}"), domain::write_back_policy{});
  auto p = parsed(R"({"writes":{"appointments":false},
                      "audit_event_codes":{"connected":{"system":"urn:x","code":"IN"}}})");
  domain::write_back_policy expected;
  expected.writes.appointments = false;
  expected.codes.connected = {"urn:x", "IN", ""};
  EXPECT_EQ(p, expected);
}

TEST(write_back_policy_body, malformed_bodies_are_refused_naming_the_member) {
  EXPECT_EQ(refusal("[]"), "invalid_json: the body must be a JSON object");
  EXPECT_EQ(refusal("{").substr(0, 13), "invalid_json:");
  EXPECT_EQ(refusal(R"({"write":{}})"), "unknown_field: write: is not a field of this request");
  EXPECT_EQ(refusal(R"({"writes":true})"), "invalid_field: writes: must be an object");
  EXPECT_EQ(refusal(R"({"writes":{"audit_events":"yes"}})"),
            "invalid_field: writes.audit_events: must be true or false");
  EXPECT_EQ(refusal(R"({"writes":{"observations":true}})"),
            "unknown_field: writes.observations: is not a field of this request");
  EXPECT_EQ(refusal(R"({"writes":{"encounters":true,"encounters":false}})"),
            "invalid_field: writes.encounters: appears twice");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"login":{"system":"urn:x","code":"c"}}})"),
            "unknown_field: audit_event_codes.login: is not a field of this request");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"type":"110114"}})"),
            "invalid_field: audit_event_codes.type: must be an object");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"type":{"code":"c"}}})"),
            "invalid_field: audit_event_codes.type.system: is required");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"type":{"system":"urn:x"}}})"),
            "invalid_field: audit_event_codes.type.code: is required");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"type":{"system":"urn:x","code":7}}})"),
            "invalid_field: audit_event_codes.type.code: must be a string");
  EXPECT_EQ(refusal(R"({"audit_event_codes":{"type":{"system":"urn:x","code":"c","x":1}}})"),
            "unknown_field: audit_event_codes.type.x: is not a field of this request");
}

}  // namespace
}  // namespace visitd::http
