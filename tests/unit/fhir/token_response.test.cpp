#include "fhir/token_response.hpp"

#include <gtest/gtest.h>

namespace visitd::fhir {
namespace {

using namespace std::chrono_literals;

// The example access token response of SMART App Launch 2.x ("Response" of the token request),
// with an id_token and refresh_token added as an openid/offline_access launch returns them.
constexpr std::string_view smart_example = R"({
  "access_token": "i8hweunweunweofiwweoijewiwe",
  "token_type": "Bearer",
  "expires_in": 3600,
  "scope": "patient/Observation.rs patient/Patient.rs openid fhirUser",
  "id_token": "eyJhbGciOiJFUzM4NCJ9.e30.c2ln",
  "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
  "intent": "client-ui-name",
  "patient": "123",
  "encounter": "456",
  "fhirContext": [{"reference": "Appointment/123"}],
  "need_patient_banner": true,
  "smart_style_url": "https://ehr.example.org/styles/smart_v1.json"
})";

std::string replace(std::string text, std::string_view from, std::string_view to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

void expect_rejected(std::string_view json, std::string_view field) {
  auto result = parse_token_response(json);
  ASSERT_FALSE(result) << "accepted: " << json;
  EXPECT_EQ(result.err().code, domain::errc::invalid_argument);
  EXPECT_NE(result.err().message.find(field), std::string::npos) << result.err().message;
}

TEST(token_response, parses_the_smart_example) {
  auto response = parse_token_response(smart_example);
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(response->access_token, "i8hweunweunweofiwweoijewiwe");
  EXPECT_EQ(response->token_type, "Bearer");
  EXPECT_EQ(response->expires_in, 3600s);
  EXPECT_EQ(response->scope, "patient/Observation.rs patient/Patient.rs openid fhirUser");
  EXPECT_EQ(response->id_token, "eyJhbGciOiJFUzM4NCJ9.e30.c2ln");
  EXPECT_EQ(response->refresh_token, "tGzv3JOkF0XG5Qx2TlKWIA");
  EXPECT_EQ(response->intent, "client-ui-name");
  EXPECT_EQ(response->patient, "123");
  EXPECT_EQ(response->encounter, "456");
  ASSERT_EQ(response->fhir_context.size(), 1u);
  EXPECT_EQ(response->fhir_context[0].reference, "Appointment/123");
  EXPECT_EQ(response->fhir_context[0].type, "");
  EXPECT_EQ(response->need_patient_banner, true);
  EXPECT_EQ(response->smart_style_url, "https://ehr.example.org/styles/smart_v1.json");
}

TEST(token_response, minimal_response_and_case_insensitive_bearer) {
  auto response = parse_token_response(R"({"access_token":"a","token_type":"bEARER"})");
  ASSERT_TRUE(response) << response.err().message;
  EXPECT_EQ(response->token_type, "Bearer");
  EXPECT_FALSE(response->expires_in);
  EXPECT_FALSE(response->refresh_token);
  EXPECT_FALSE(response->id_token);
  EXPECT_FALSE(response->need_patient_banner);
  EXPECT_TRUE(response->fhir_context.empty());
}

TEST(token_response, fhir_context_entries) {
  auto response = parse_token_response(R"({"access_token":"a","token_type":"Bearer",
    "fhirContext":[
      {"reference":"Appointment/1","type":"Appointment","role":"https://example.org/role"},
      {"canonical":"http://example.org/Questionnaire/q|1"},
      {"identifier":{"value":"x"},"type":"DocumentReference"},
      {"reference":"https://ehr/fhir/Encounter/9","extra":[1,2]}]})");
  ASSERT_TRUE(response) << response.err().message;
  ASSERT_EQ(response->fhir_context.size(), 2u);
  EXPECT_EQ(response->fhir_context[0].reference, "Appointment/1");
  EXPECT_EQ(response->fhir_context[0].type, "Appointment");
  EXPECT_EQ(response->fhir_context[0].role, "https://example.org/role");
  EXPECT_EQ(response->fhir_context[1].reference, "https://ehr/fhir/Encounter/9");

  expect_rejected(R"({"access_token":"a","token_type":"Bearer","fhirContext":{}})", "fhirContext");
  expect_rejected(R"({"access_token":"a","token_type":"Bearer","fhirContext":["Appointment/1"]})",
                  "fhirContext");
  expect_rejected(R"({"access_token":"a","token_type":"Bearer","fhirContext":[{"reference":1}]})",
                  "fhirContext[].reference");
}

TEST(token_response, required_fields) {
  const std::string example{smart_example};
  expect_rejected(replace(example, R"("access_token")", R"("access_tokn")"), "access_token");
  expect_rejected(replace(example, R"("token_type")", R"("tokentype")"), "token_type");
  expect_rejected(R"({"access_token":"","token_type":"Bearer"})", "access_token");
}

TEST(token_response, wrong_types_name_the_field) {
  const std::string example{smart_example};
  expect_rejected(replace(example, "3600", R"("3600")"), "expires_in");
  expect_rejected(replace(example, "3600", "-1"), "expires_in");
  expect_rejected(replace(example, "3600", "36.5"), "expires_in");
  expect_rejected(replace(example, "3600", "18446744073709551615"), "expires_in");
  auto forever = parse_token_response(replace(example, "3600", "9223372036854775807"));
  ASSERT_TRUE(forever) << forever.err().message;
  EXPECT_EQ(forever->expires_in, max_expires_in);
  expect_rejected(
    replace(example, R"("need_patient_banner": true)", R"("need_patient_banner": "yes")"),
    "need_patient_banner");
  expect_rejected(replace(example, R"("patient": "123")", R"("patient": 123)"), "patient");
  expect_rejected(replace(example, R"("i8hweunweunweofiwweoijewiwe")", "null"), "access_token");
  expect_rejected(
    replace(example, R"("refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA")", R"("refresh_token": ["x"])"),
    "refresh_token");
  expect_rejected(replace(example, R"("scope": )", R"("scope": 1, "x": )"), "scope");
}

TEST(token_response, token_type_must_be_bearer) {
  const std::string example{smart_example};
  expect_rejected(replace(example, R"("Bearer")", R"("mac")"), "token_type");
  expect_rejected(replace(example, R"("Bearer")", R"("DPoP")"), "token_type");
  expect_rejected(replace(example, R"("Bearer")", R"("Bearer ")"), "token_type");
}

TEST(token_response, huge_field_refused) {
  const std::string huge(max_token_field_bytes + 1, 'x');
  expect_rejected(R"({"access_token":")" + huge + R"(","token_type":"Bearer"})", "access_token");
  expect_rejected(R"({"access_token":"a","token_type":"Bearer","scope":")" + huge + "\"}", "scope");
  // Exactly at the cap is fine.
  const std::string at_cap(max_token_field_bytes, 'x');
  EXPECT_TRUE(
    parse_token_response(R"({"access_token":")" + at_cap + R"(","token_type":"Bearer"})"));
  auto too_big = parse_token_response(std::string(max_token_response_bytes + 1, ' '));
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.err().message.find("too large"), std::string::npos);
}

TEST(token_response, not_json_and_unknown_fields) {
  expect_rejected("", "not a JSON object");
  expect_rejected("access_token=a&token_type=Bearer", "not a JSON object");
  expect_rejected(R"(["access_token"])", "not a JSON object");
  expect_rejected(R"({"access_token":"a","token_type":"Bearer"} {})", "not a JSON object");
  // An unknown field is ignored, but it still has to be JSON.
  expect_rejected(R"({"access_token":"a","token_type":"Bearer","x":[1,}])", "not a JSON object");
  EXPECT_TRUE(parse_token_response(
    R"({"access_token":"a","token_type":"Bearer","x":{"deep":[1,2,{"y":null}]},"state":"s"})"));
  expect_rejected(R"({"access_token":"a","token_type":"Bearer","access_token":"b"})",
                  "access_token");
}

TEST(token_response, oauth_error_reply) {
  auto error = parse_oauth_error(
    R"({"error":"invalid_grant","error_description":"code expired","error_uri":"https://x/e"})");
  ASSERT_TRUE(error) << error.err().message;
  EXPECT_EQ(error->error, "invalid_grant");
  EXPECT_EQ(error->error_description, "code expired");
  EXPECT_EQ(error->error_uri, "https://x/e");

  auto bare = parse_oauth_error(R"({"error":"invalid_client","other":1})");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->error_description, "");

  EXPECT_FALSE(parse_oauth_error(R"({"error_description":"x"})"));
  EXPECT_FALSE(parse_oauth_error(R"({"error":""})"));
  EXPECT_FALSE(parse_oauth_error(R"({"error":400})"));
  EXPECT_FALSE(parse_oauth_error(R"({"error":"x","error_description":{}})"));
  EXPECT_FALSE(parse_oauth_error("<html>Bad Request</html>"));
}

}  // namespace
}  // namespace visitd::fhir
