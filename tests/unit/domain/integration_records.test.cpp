#include "domain/integration_records.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace visitd::domain {
namespace {

using testing::rev;
using testing::t0;

using testing::aid;
using testing::euid;
using testing::make_id;

struct fixture {
  tenant t;
  fhir_endpoint ep;
};

fixture approved_endpoint(ehr_kind kind, client_type type = client_type::public_client) {
  tenant t =
    make_tenant(make_id<tenant_id>("acme"), "Acme", "eu", {aid("adm")}, aid("apr"), kind).value();
  auto settings =
    make_endpoint_settings("https://EHR.example/fhir/r4/", fhir_environment::test, "client-1", type)
      .value();
  auto ep = create_endpoint(t, aid("adm"), make_id<endpoint_id>("ep1"), settings, t0).value();
  ep = submit(ep, t, aid("adm"), rev(1), t0).value();
  if (kind == ehr_kind::oracle_health) {
    ep = approve(ep, t, aid("adm"), rev(1), t0).value();
  } else {
    ep = record_validation(ep, t, aid("apr"), rev(1), euid("Practitioner/1"), t0).value();
    ep = approve(ep, t, aid("apr"), rev(1), t0).value();
  }
  return {std::move(t), std::move(ep)};
}

bool has_scope(const integration_record& r, std::string_view s) {
  return std::find(r.scopes.begin(), r.scopes.end(), s) != r.scopes.end();
}

std::string param(const integration_record& r, std::string_view name) {
  for (const auto& p : r.ehr_parameters)
    if (p.name == name) return p.value;
  return "<missing>";
}

TEST(integration_records, three_launches_with_urls_and_client) {
  auto f = approved_endpoint(ehr_kind::generic_smart);
  auto records = make_integration_records(f.t, f.ep, rev(1), "https://Visits.Example.org/");
  ASSERT_TRUE(records.has_value()) << records.err().message;
  ASSERT_EQ(records->size(), 3U);
  const auto& provider = (*records)[0];
  EXPECT_EQ(provider.kind, launch_kind::provider);
  EXPECT_EQ(provider.launch_url, "https://visits.example.org/smart/acme/ep1/launch/provider");
  EXPECT_EQ(provider.redirect_uri, "https://visits.example.org/smart/acme/ep1/callback");
  EXPECT_EQ(provider.jwks_url, "https://visits.example.org/smart/acme/jwks.json");
  EXPECT_EQ(provider.client_id, "client-1");
  EXPECT_EQ(provider.fhir_base_url, "https://ehr.example/fhir/r4");
  EXPECT_EQ(provider.environment, fhir_environment::test);
  EXPECT_EQ((*records)[1].launch_url, "https://visits.example.org/smart/acme/ep1/launch/patient");
  EXPECT_EQ((*records)[2].launch_url,
            "https://visits.example.org/smart/acme/ep1/launch/device-test");
}

TEST(integration_records, scopes_per_launch) {
  auto f = approved_endpoint(ehr_kind::generic_smart);
  auto records = make_integration_records(f.t, f.ep, rev(1), "https://v.example").value();
  const auto& provider = records[0];
  EXPECT_TRUE(provider.scope_string().starts_with("launch openid fhirUser"))
    << provider.scope_string();
  EXPECT_TRUE(has_scope(provider, "user/Patient.rs"));
  const auto& patient = records[1];
  EXPECT_TRUE(patient.scope_string().starts_with("launch/patient openid fhirUser"));
  EXPECT_TRUE(has_scope(patient, "patient/Appointment.rs"));
  EXPECT_FALSE(has_scope(patient, "launch"));
  const auto& device = records[2];
  EXPECT_EQ(device.scope_string(), "launch/patient openid fhirUser");
}

TEST(integration_records, ehr_parameters_differ_per_ehr_kind) {
  auto epic = approved_endpoint(ehr_kind::epic, client_type::confidential_private_key_jwt);
  auto e = make_integration_records(epic.t, epic.ep, rev(1), "https://v.example").value();
  EXPECT_EQ(param(e[0], "audience"), "clinicians");
  EXPECT_EQ(param(e[1], "launch_type"), "mychart");
  EXPECT_EQ(param(e[0], "token_endpoint_auth"), "private_key_jwt");
  EXPECT_TRUE(has_scope(e[0], "user/Patient.read"));

  auto oracle = approved_endpoint(ehr_kind::oracle_health);
  auto o = make_integration_records(oracle.t, oracle.ep, rev(1), "https://v.example").value();
  EXPECT_EQ(param(o[0], "application_type"), "provider");
  EXPECT_EQ(param(o[2], "application_type"), "patient");
  EXPECT_EQ(param(o[0], "token_endpoint_auth"), "none");
  EXPECT_NE(o[0].ehr_parameters, e[0].ehr_parameters);

  auto generic = approved_endpoint(ehr_kind::generic_smart);
  auto g = make_integration_records(generic.t, generic.ep, rev(1), "https://v.example").value();
  EXPECT_EQ(param(g[0], "pkce"), "S256");
  EXPECT_EQ(param(g[0], "audience"), "<missing>");
}

TEST(integration_records, refused_unless_the_revision_is_approved) {
  auto f = approved_endpoint(ehr_kind::epic);
  auto s = make_endpoint_settings("https://ehr.example/fhir/r5", fhir_environment::test, "c",
                                  client_type::public_client)
             .value();
  f.ep = propose_change(f.ep, f.t, aid("adm"), s, t0).value();
  auto draft = make_integration_records(f.t, f.ep, rev(2), "https://v.example");
  ASSERT_FALSE(draft.has_value());
  EXPECT_EQ(draft.err().code, errc::conflict);
  EXPECT_NE(draft.err().message.find("draft"), std::string::npos);
  EXPECT_EQ(make_integration_records(f.t, f.ep, rev(3), "https://v.example").err().code,
            errc::not_found);
  // The approved revision 1 still has records while 2 is pending.
  EXPECT_TRUE(make_integration_records(f.t, f.ep, rev(1), "https://v.example").has_value());
  f.ep = revoke(f.ep, f.t, aid("adm"), t0).value();
  EXPECT_EQ(make_integration_records(f.t, f.ep, rev(1), "https://v.example").err().code,
            errc::conflict);
}

TEST(integration_records, public_base_url_must_be_https) {
  auto f = approved_endpoint(ehr_kind::epic);
  auto r = make_integration_records(f.t, f.ep, rev(1), "http://v.example");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::invalid_argument);
  EXPECT_NE(r.err().message.find("public_base_url"), std::string::npos);
  EXPECT_TRUE(make_integration_records(f.t, f.ep, rev(1), "http://127.0.0.1:8080", true));
}

TEST(integration_records, suspended_or_foreign_tenant_is_refused) {
  auto f = approved_endpoint(ehr_kind::epic);
  tenant other = f.t;
  other.id = make_id<tenant_id>("other");
  EXPECT_EQ(make_integration_records(other, f.ep, rev(1), "https://v").err().code,
            errc::invalid_argument);
  ASSERT_TRUE(suspend(f.t).has_value());
  EXPECT_EQ(make_integration_records(f.t, f.ep, rev(1), "https://v").err().code, errc::conflict);
}

}  // namespace
}  // namespace visitd::domain
