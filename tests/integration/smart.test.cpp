// SMART on FHIR against the test EHR (tests/ehr_fixture), all over real TLS on loopback: the
// approver validates an endpoint revision by signing in to the EHR, as a public client and as a
// confidential client (private_key_jwt with the tenant's keys from visitd's JWKS), and every
// way the sign-in can fail ends in a clear error with nothing recorded.

#include "smart_box.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

namespace visitd::test {
namespace {

TEST(smart, the_approver_validates_a_revision_by_signing_in_to_the_ehr_then_approves_it) {
  smart_box t;
  t.add_endpoint("main", "ehr1");
  t.behave("ehr1", R"({"user":"Practitioner/analyst-7"})");

  auto s = t.start_validation("main");
  ASSERT_EQ(s.reply.status, 200) << s.reply.body;
  ASSERT_FALSE(s.authorize_path.empty()) << s.reply.body;
  ASSERT_FALSE(s.binding_cookie.empty()) << "the sign-in is bound to this browser";
  for (std::string param : {"response_type=code", "code_challenge_method=S256",
                            "nonce=", "scope=openid%20fhirUser", "state=", "aud="})
    EXPECT_NE(s.authorize_path.find(param), std::string::npos) << param << ": " << s.authorize_path;

  auto location = t.authorize(s.authorize_path);
  auto done = t.callback(location, s.binding_cookie);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find(R"("ehr_user":"Practitioner/analyst-7")"), std::string::npos)
    << done.body;
  EXPECT_EQ(t.revision_state("main"), "validated");

  // The callback cannot be replayed: the state was used up.
  auto replay = t.callback(location, s.binding_cookie);
  EXPECT_EQ(replay.status, 400) << replay.body;
  EXPECT_NE(replay.body.find("already used"), std::string::npos) << replay.body;

  auto approved =
    post_json(t.box_.connection, "/api/v1/tenants/acme/endpoints/main/revisions/1/approve", "",
              t.approver_.headers());
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(t.revision_state("main"), "approved");

  // The validation is audited with the EHR user who signed in.
  auto audit =
    t.box_.connection.request("GET", "/api/v1/audit?tenant=acme&limit=50", {}, t.admin_.headers());
  EXPECT_NE(audit.body.find(R"("action":"endpoint.validate")"), std::string::npos) << audit.body;
  EXPECT_NE(audit.body.find("Practitioner/analyst-7"), std::string::npos) << audit.body;
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(smart, a_confidential_client_authenticates_with_the_tenants_key_from_the_jwks) {
  smart_box t;
  auto jwks = t.box_.connection.request("GET", "/smart/acme/jwks.json");
  ASSERT_EQ(jwks.status, 200) << jwks.body;
  EXPECT_NE(jwks.body.find(R"("alg":"RS384")"), std::string::npos) << jwks.body;
  EXPECT_NE(jwks.body.find(R"("alg":"ES384")"), std::string::npos) << jwks.body;
  EXPECT_EQ(jwks.body.find("\"d\""), std::string::npos) << "never private material";
  EXPECT_EQ(t.box_.connection.request("GET", "/smart/nobody/jwks.json").status, 404);

  t.add_endpoint("conf", "ehr2", "confidential_private_key_jwt");
  t.behave("ehr2", R"({"user":"Practitioner/analyst-9"})");
  auto s = t.start_validation("conf");
  ASSERT_EQ(s.reply.status, 200) << s.reply.body;
  auto done = t.callback(t.authorize(s.authorize_path), s.binding_cookie);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(t.revision_state("conf"), "validated");
  auto log = t.ehr_.control("GET", "/control/ehr/ehr2/log", "");
  EXPECT_NE(log.body.find("private_key_jwt"), std::string::npos) << log.body;

  // The keys are made once: the JWKS does not change from one request to the next.
  auto again = t.box_.connection.request("GET", "/smart/acme/jwks.json");
  EXPECT_EQ(again.body, jwks.body);
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(smart, each_failed_sign_in_says_what_failed_and_records_nothing) {
  smart_box t;
  t.add_endpoint("main", "ehr3");
  t.behave("ehr3", R"({"user":"Practitioner/analyst-1"})");

  {  // An unknown state, and a callback with neither code nor error.
    auto bogus = t.box_.connection.request("GET", "/smart/acme/main/callback?state=x&code=y", {},
                                           {{"Accept", "application/json"}});
    EXPECT_EQ(bogus.status, 400) << bogus.body;
    auto empty = t.box_.connection.request("GET", "/smart/acme/main/callback?state=x", {},
                                           {{"Accept", "application/json"}});
    EXPECT_EQ(empty.status, 400) << empty.body;
    auto page = t.box_.connection.request("GET", "/smart/acme/main/callback?state=x&code=y");
    EXPECT_EQ(page.status, 400);
    EXPECT_NE(page.headers["content-type"].find("text/html"), std::string::npos);
  }
  {  // Another browser (no binding cookie) cannot finish it, and uses the state up.
    auto s = t.start_validation("main");
    ASSERT_EQ(s.reply.status, 200) << s.reply.body;
    auto location = t.authorize(s.authorize_path);
    auto stolen = t.callback(location, "");
    EXPECT_EQ(stolen.status, 403) << stolen.body;
    auto late = t.callback(location, s.binding_cookie);
    EXPECT_EQ(late.status, 400) << late.body;
  }
  {  // The EHR refuses consent.
    t.behave("ehr3", R"({"authorize":"deny"})");
    auto s = t.start_validation("main");
    auto refused = t.callback(t.authorize(s.authorize_path), s.binding_cookie);
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_NE(refused.body.find("access_denied"), std::string::npos) << refused.body;
    t.behave("ehr3", R"({"authorize":"consent"})");
  }
  // id_tokens that must not be believed.
  for (auto [mode, says] :
       std::vector<std::pair<std::string, std::string>>{{"tamper", "signature"},
                                                        {"wrong_aud", "aud"},
                                                        {"wrong_iss", "iss"},
                                                        {"expired", "expired"},
                                                        {"wrong_nonce", "nonce"}}) {
    t.behave("ehr3", R"({"id_token":")" + mode + R"("})");
    auto s = t.start_validation("main");
    ASSERT_EQ(s.reply.status, 200) << s.reply.body;
    auto bad = t.callback(t.authorize(s.authorize_path), s.binding_cookie);
    EXPECT_EQ(bad.status, 502) << mode << ": " << bad.body;
    EXPECT_NE(bad.body.find(says), std::string::npos) << mode << ": " << bad.body;
  }
  t.behave("ehr3", R"({"id_token":"ok"})");
  {  // A code injected into another sign-in of the same browser: the verifier does not match.
    auto a = t.start_validation("main");
    auto b = t.start_validation("main", 1, a.binding_cookie);
    ASSERT_EQ(b.binding_cookie, a.binding_cookie) << "one browser, one binding";
    // b's start replaced a's pending validation in the approval flow; a's code with b's state:
    auto a_location = t.authorize(a.authorize_path);
    auto b_location = t.authorize(b.authorize_path);
    std::smatch code_a;
    std::smatch state_b;
    ASSERT_TRUE(std::regex_search(a_location, code_a, std::regex{"code=([^&]+)"}));
    ASSERT_TRUE(std::regex_search(b_location, state_b, std::regex{"state=([^&]+)"}));
    auto injected =
      t.callback(t.callback_uri("main") + "?code=" + code_a[1].str() + "&state=" + state_b[1].str(),
                 b.binding_cookie);
    EXPECT_EQ(injected.status, 502) << injected.body;
    EXPECT_NE(injected.body.find("invalid_grant"), std::string::npos) << injected.body;
  }
  EXPECT_EQ(t.revision_state("main"), "awaiting_validation") << "nothing was recorded";

  {  // EHRs that cannot be used: no SMART configuration, no S256, nothing listening. (Each is
     // a fresh EHR: visitd caches a configuration it fetched for ten minutes.)
    t.behave("ehr4", R"({"smart_configuration":"missing"})");
    t.add_endpoint("nosmart", "ehr4");
    auto missing = t.start_validation("nosmart");
    EXPECT_EQ(missing.reply.status, 502) << missing.reply.body;
    EXPECT_NE(missing.reply.body.find("no SMART configuration"), std::string::npos)
      << missing.reply.body;
    t.behave("ehr5", R"({"smart_configuration":"no_s256"})");
    t.add_endpoint("nopkce", "ehr5");
    auto no_pkce = t.start_validation("nopkce");
    EXPECT_EQ(no_pkce.reply.status, 502) << no_pkce.reply.body;
    EXPECT_NE(no_pkce.reply.body.find("S256"), std::string::npos) << no_pkce.reply.body;
    t.add_endpoint_at("down", "https://127.0.0.1:1/fhir");
    auto down = t.start_validation("down");
    EXPECT_EQ(down.reply.status, 502) << down.reply.body;
    EXPECT_NE(down.reply.body.find("could not fetch"), std::string::npos) << down.reply.body;
    for (std::string id : {"nosmart", "nopkce", "down"})
      EXPECT_EQ(t.revision_state(id), "awaiting_validation") << id;
  }
  {  // Only the tenant's approver may validate.
    auto by_admin =
      post_json(t.box_.connection, "/api/v1/tenants/acme/endpoints/main/revisions/1/validation", "",
                t.admin_.headers());
    EXPECT_EQ(by_admin.status, 403) << by_admin.body;
  }
  EXPECT_EQ(t.revision_state("main"), "awaiting_validation");
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(smart, a_provider_links_once_then_launches_straight_into_the_visit_the_patient_joins) {
  smart_box t{"oracle_health"};  // its admin approves without a validation step
  t.add_endpoint("main", "ehr1");
  t.approve_by_admin("main");
  const auto iss = t.ehr_.fhir_base("ehr1");
  auto doc =
    post_json(t.box_.connection, "/api/v1/accounts",
              R"({"login":"doc1","password":"provider secret words"})", t.operator_.headers());
  ASSERT_EQ(doc.status, 201) << doc.body;

  const std::string context =
    R"({"fhirUser":"Practitioner/doc-1","patient":"pat-1","encounter":"enc-1","appointment":"appt-1"})";
  auto first = t.launch("main", "provider", iss, t.ehr_launch("ehr1", context));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find(R"("link_required":true)"), std::string::npos) << first.body;
  auto link_token = json_string_field(first.body, "link_token");
  ASSERT_FALSE(link_token.empty()) << first.body;

  // The provider signs in to visitd once and links; that enters the visit.
  tls_connection browser{t.box_.server.client()};
  auto provider = sign_in(browser, "doc1", "provider secret words");
  auto linked = post_json(browser, "/api/v1/ehr-links", R"({"link_token":")" + link_token + "\"}",
                          provider.headers());
  ASSERT_EQ(linked.status, 200) << linked.body;
  auto visit_id = json_string_field(linked.body, "id");
  ASSERT_EQ(visit_id.rfind("v-", 0), 0U) << linked.body;
  EXPECT_EQ(post_json(browser, "/api/v1/ehr-links", R"({"link_token":")" + link_token + "\"}",
                      provider.headers())
              .status,
            400)
    << "a link token is used once";

  // From now on the launch goes straight in, with a session, into the same visit.
  auto again = t.launch("main", "provider", iss, t.ehr_launch("ehr1", context));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body.find(R"("role":"staff")"), std::string::npos) << again.body;
  EXPECT_EQ(json_string_field(again.body, "id"), visit_id) << again.body;
  EXPECT_NE(again.headers["set-cookie"].find("__Host-session="), std::string::npos);

  // The provider's session from the launch watches the visit live (a provider is no portal
  // admin: being linked to an EHR user of the tenant makes them its staff).
  auto provider_cookie = cookie_pair(again.headers["set-cookie"], "__Host-session");
  ws_client stream{t.box_.server.client(),
                   "/api/v1/tenants/acme/visits/" + visit_id + "/stream",
                   {{"Cookie", provider_cookie}}};
  EXPECT_NE(stream.read().find(R"("type":"snapshot")"), std::string::npos);
  EXPECT_EQ(t.box_.connection
              .request("GET", "/api/v1/tenants/acme/endpoints", {}, {{"Cookie", provider_cookie}})
              .status,
            404)
    << "the portal's configuration stays with admins and the approver";

  // The patient's one click from the portal: the same visit, a join link, no account.
  auto patient =
    t.launch("main", "patient", iss,
             t.ehr_launch(
               "ehr1", R"({"fhirUser":"Patient/pat-1","patient":"pat-1","appointment":"appt-1"})"));
  ASSERT_EQ(patient.status, 200) << patient.body;
  EXPECT_EQ(json_string_field(patient.body, "visit_id"), visit_id) << patient.body;
  EXPECT_FALSE(json_string_field(patient.body, "token").empty()) << patient.body;
  EXPECT_EQ(patient.headers["set-cookie"].find("__Host-session="), std::string::npos)
    << "patients get no session";
  {  // ... and with it the patient waits in the lobby, which the provider sees at once.
    ws_client lobby{t.box_.server.client(), json_string_field(patient.body, "url") + "/socket"};
    EXPECT_NE(lobby.read().find(R"("status":"waiting")"), std::string::npos);
    auto joined = stream.read();
    EXPECT_NE(joined.find(R"("event":"participant_joined")"), std::string::npos) << joined;
    EXPECT_NE(joined.find(R"("role":"patient")"), std::string::npos) << joined;
  }

  // The device check: an EHR sign-in, nothing opened.
  auto device = t.launch("main", "device-test", iss,
                         t.ehr_launch("ehr1", R"({"fhirUser":"Patient/pat-1","patient":"pat-1"})"));
  ASSERT_EQ(device.status, 200) << device.body;
  EXPECT_NE(device.body.find(R"("device_test":true)"), std::string::npos) << device.body;

  // Only EHR user ids are kept: the link is audited with the reference, never a name.
  auto audit =
    t.box_.connection.request("GET", "/api/v1/audit?tenant=acme&limit=100", {}, t.admin_.headers());
  EXPECT_NE(audit.body.find(R"("action":"provider.link")"), std::string::npos) << audit.body;
  EXPECT_NE(audit.body.find("Practitioner/doc-1"), std::string::npos) << audit.body;
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(smart, launches_that_cannot_be_served_are_refused_with_what_is_wrong_and_open_nothing) {
  smart_box t{"oracle_health"};
  t.add_endpoint("main", "ehr1");
  t.approve_by_admin("main");
  t.add_endpoint("prod", "ehr-prod");
  {  // make "prod" a production endpoint: a new revision, submitted and approved
    auto changed = post_json(
      t.box_.connection, "/api/v1/tenants/acme/endpoints/prod/revisions",
      R"({"base_url":")" + t.ehr_.fhir_base("ehr-prod") +
        R"(","environment":"production","client_id":"visitd-prod","client_type":"public"})",
      t.admin_.headers());
    ASSERT_EQ(changed.status, 201) << changed.body;
    for (std::string step : {"submit", "approve"})
      ASSERT_EQ(
        post_json(t.box_.connection, "/api/v1/tenants/acme/endpoints/prod/revisions/2/" + step, "",
                  t.admin_.headers())
          .status,
        200)
        << step;
  }
  t.add_endpoint("pending", "ehr2");  // submitted, never approved
  const auto test_iss = t.ehr_.fhir_base("ehr1");
  const auto prod_iss = t.ehr_.fhir_base("ehr-prod");
  const std::string context = R"({"fhirUser":"Practitioner/doc-1","appointment":"appt-9"})";

  auto code_of = [](const http_reply& r) { return json_string_field(r.body, "code"); };
  auto unknown = t.launch("nope", "provider", test_iss, "x");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(code_of(unknown), "tenant_config_not_found") << unknown.body;
  auto unapproved = t.launch("pending", "provider", t.ehr_.fhir_base("ehr2"), "x");
  EXPECT_EQ(unapproved.status, 409);
  EXPECT_EQ(code_of(unapproved), "not_approved") << unapproved.body;
  auto stranger = t.launch("main", "provider", "https://127.0.0.1:1/fhir", "x");
  EXPECT_EQ(stranger.status, 400);
  EXPECT_EQ(code_of(stranger), "unknown_iss") << stranger.body;
  auto test_into_prod = t.launch("prod", "provider", test_iss, t.ehr_launch("ehr1", context));
  EXPECT_EQ(test_into_prod.status, 400);
  EXPECT_EQ(code_of(test_into_prod), "environment_mismatch") << test_into_prod.body;
  auto prod_into_test = t.launch("main", "patient", prod_iss, "");
  EXPECT_EQ(code_of(prod_into_test), "environment_mismatch") << prod_into_test.body;
  auto no_launch = t.launch("main", "provider", test_iss, "");
  EXPECT_EQ(no_launch.status, 400) << no_launch.body;

  // A launch the EHR no longer knows (expired): the EHR refuses, visitd says so.
  auto expired = t.ehr_launch(
    "ehr1", R"({"fhirUser":"Practitioner/doc-1","appointment":"appt-9","ttl_seconds":1})");
  std::this_thread::sleep_for(std::chrono::milliseconds{1100});
  auto late = t.launch("main", "provider", test_iss, expired);
  EXPECT_EQ(late.status, 403) << late.body;
  EXPECT_EQ(code_of(late), "ehr_refused") << late.body;

  // A launch without an appointment or encounter has no visit to open.
  auto bare = t.launch("main", "provider", test_iss,
                       t.ehr_launch("ehr1", R"({"fhirUser":"Practitioner/doc-1","patient":"p"})"));
  EXPECT_EQ(bare.status, 400);
  EXPECT_EQ(code_of(bare), "no_visit_context") << bare.body;

  auto visits =
    t.box_.connection.request("GET", "/api/v1/tenants/acme/visits", {}, t.admin_.headers());
  ASSERT_EQ(visits.status, 200) << visits.body;
  EXPECT_EQ(visits.body.find("v-"), std::string::npos) << "no visit was opened: " << visits.body;
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

TEST(smart, a_sign_in_that_takes_too_long_expires_and_a_key_rotation_keeps_the_old_keys_published) {
  smart_box t{"generic_smart", {"--sign-in-timeout", "1"}};
  t.add_endpoint("main", "ehr1");
  auto s = t.start_validation("main");
  ASSERT_EQ(s.reply.status, 200) << s.reply.body;
  auto location = t.authorize(s.authorize_path);
  std::this_thread::sleep_for(std::chrono::milliseconds{1100});
  auto late = t.callback(location, s.binding_cookie);
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(json_string_field(late.body, "code"), "expired") << late.body;
  EXPECT_EQ(t.revision_state("main"), "awaiting_validation");

  auto kids_of = [](const std::string& jwks) {
    std::set<std::string> kids;
    std::regex re{R"re("kid":"([^"]+)")re"};
    for (auto it = std::sregex_iterator(jwks.begin(), jwks.end(), re); it != std::sregex_iterator();
         ++it)
      kids.insert((*it)[1].str());
    return kids;
  };
  auto before = kids_of(t.box_.connection.request("GET", "/smart/acme/jwks.json").body);
  ASSERT_EQ(before.size(), 2U);
  EXPECT_EQ(
    post_json(t.box_.connection, "/api/v1/tenants/acme/signing-keys/rotate", "", t.admin_.headers())
      .status,
    403)
    << "operators only";
  auto rotated = post_json(t.box_.connection, "/api/v1/tenants/acme/signing-keys/rotate", "",
                           t.operator_.headers());
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_NE(rotated.body.find(R"("generation":2)"), std::string::npos) << rotated.body;
  auto after = kids_of(t.box_.connection.request("GET", "/smart/acme/jwks.json").body);
  EXPECT_EQ(after.size(), 4U);
  for (const auto& kid : before) EXPECT_TRUE(after.contains(kid)) << "old key still published";
  auto audit = t.box_.connection.request("GET", "/api/v1/audit?tenant=_box&limit=50", {},
                                         t.operator_.headers());
  EXPECT_NE(audit.body.find(R"("action":"signing_keys.rotate")"), std::string::npos) << audit.body;
  EXPECT_EQ(t.box_.server.stop(), 0) << "a clean stop (a sanitizer report would abort it)";
}

}  // namespace
}  // namespace visitd::test
