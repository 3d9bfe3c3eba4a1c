#include "fhir/smart_configuration.hpp"

#include <gtest/gtest.h>

namespace visitd::fhir {
namespace {

constexpr std::string_view valid = R"({
  "issuer": "https://ehr.example.org/fhir",
  "jwks_uri": "https://ehr.example.org/jwks",
  "authorization_endpoint": "https://ehr.example.org/authorize",
  "token_endpoint": "https://ehr.example.org/token",
  "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
  "grant_types_supported": ["authorization_code", "client_credentials"],
  "scopes_supported": ["openid", "fhirUser", "launch"],
  "code_challenge_methods_supported": ["S256"],
  "capabilities": ["launch-ehr", "client-public", "sso-openid-connect"]
})";

TEST(smart_configuration, parses_a_conformant_document) {
  auto config = parse_smart_configuration(valid);
  ASSERT_TRUE(config) << config.err().message;
  EXPECT_EQ(config->authorization_endpoint, "https://ehr.example.org/authorize");
  EXPECT_EQ(config->token_endpoint, "https://ehr.example.org/token");
  EXPECT_EQ(config->jwks_uri, "https://ehr.example.org/jwks");
  EXPECT_EQ(config->token_endpoint_auth_methods_supported.size(), 2u);
  EXPECT_TRUE(config->has_capability("launch-ehr"));
  EXPECT_FALSE(config->has_capability("launch-standalone"));
}

void expect_rejected(std::string json, std::string_view field) {
  auto config = parse_smart_configuration(json);
  ASSERT_FALSE(config) << "accepted: " << json;
  EXPECT_EQ(config.err().code, domain::errc::invalid_argument);
  EXPECT_NE(config.err().message.find(field), std::string::npos) << config.err().message;
}

std::string replace(std::string text, std::string_view from, std::string_view to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(smart_configuration, requires_pkce_s256) {
  expect_rejected(replace(std::string{valid}, R"(["S256"])", R"(["plain"])"),
                  "code_challenge_methods_supported");
  expect_rejected(replace(std::string{valid}, R"("code_challenge_methods_supported")", R"("x")"),
                  "code_challenge_methods_supported");
}

TEST(smart_configuration, requires_https_endpoints) {
  expect_rejected(replace(std::string{valid}, "https://ehr.example.org/token", "http://ehr/token"),
                  "token_endpoint");
  expect_rejected(replace(std::string{valid}, R"("authorization_endpoint")", R"("authz")"),
                  "authorization_endpoint");
}

TEST(smart_configuration, names_fields_of_the_wrong_type) {
  expect_rejected(
    replace(std::string{valid}, R"(["launch-ehr", "client-public", "sso-openid-connect"])",
            R"("launch-ehr")"),
    "capabilities");
  expect_rejected(replace(std::string{valid}, R"("https://ehr.example.org/fhir")", "42"), "issuer");
}

TEST(smart_configuration, rejects_non_json_and_non_objects) {
  EXPECT_FALSE(parse_smart_configuration(""));
  EXPECT_FALSE(parse_smart_configuration("[]"));
  EXPECT_FALSE(parse_smart_configuration("{\"token_endpoint\": "));
  EXPECT_FALSE(parse_smart_configuration(std::string_view{"\xff\xfe{}", 4}));
}

}  // namespace
}  // namespace visitd::fhir
