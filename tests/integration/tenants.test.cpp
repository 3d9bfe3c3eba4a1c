// The operator's part of the portal API on the real server: accounts and tenants created over
// TLS with CSRF, audited, validated field by field, hidden from those who are not theirs, and
// still there after kill -9.

#include "api_client.hpp"
#include "running_server.hpp"

#include <gtest/gtest.h>

namespace visitd::test {
namespace {

const std::string operator_password = "first operator secret";
const std::string admin_password = "tenant admin secret";

std::string tenant_body(const std::string& id, const std::string& admin,
                        const std::string& approver, const std::string& region = "local",
                        const std::string& ehr = "oracle_health") {
  return R"({"id":")" + id + R"(","display_name":"Acme Health","region":")" + region +
         R"(","admins":[")" + admin + R"("],"approver":")" + approver + R"(","ehr":")" + ehr +
         R"("})";
}

TEST(tenants, the_operator_creates_accounts_and_tenants_that_admins_see_and_others_cannot_find) {
  temp_dir dir;
  auto data = dir.path() / "data";
  create_operator(VISITD_BINARY, data, "ops", operator_password);
  std::string admin_id;
  {
    running_server visitd{VISITD_BINARY, data};
    visitd.wait_ready();
    tls_connection c{visitd.client()};
    auto op = sign_in(c, "ops", operator_password);

    auto no_csrf =
      post_json(c, "/api/v1/accounts", R"({"login":"admin1"})", {{"Cookie", op.cookie}});
    EXPECT_EQ(no_csrf.status, 403) << no_csrf.body;
    auto admin =
      post_json(c, "/api/v1/accounts",
                R"({"login":"Admin1","password":")" + admin_password + R"("})", op.headers());
    ASSERT_EQ(admin.status, 201) << admin.body;
    admin_id = json_string_field(admin.body, "id");
    EXPECT_EQ(json_string_field(admin.body, "login"), "admin1");
    auto approver = post_json(c, "/api/v1/accounts", R"({"login":"approver1"})", op.headers());
    ASSERT_EQ(approver.status, 201) << approver.body;
    auto approver_id = json_string_field(approver.body, "id");
    EXPECT_EQ(post_json(c, "/api/v1/accounts", R"({"login":"admin1"})", op.headers()).status, 409);

    auto created =
      post_json(c, "/api/v1/tenants", tenant_body("acme", admin_id, approver_id), op.headers());
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_NE(created.body.find(R"("status":"active")"), std::string::npos) << created.body;
    auto other =
      post_json(c, "/api/v1/tenants", tenant_body("other", "op-x", approver_id), op.headers());
    ASSERT_EQ(other.status, 201) << other.body;

    auto duplicate =
      post_json(c, "/api/v1/tenants", tenant_body("acme", admin_id, approver_id), op.headers());
    EXPECT_EQ(duplicate.status, 409) << duplicate.body;
    auto far = post_json(c, "/api/v1/tenants", tenant_body("far", admin_id, approver_id, "mars"),
                         op.headers());
    EXPECT_EQ(far.status, 400);
    EXPECT_NE(far.body.find("region"), std::string::npos) << far.body;
    auto cerner =
      post_json(c, "/api/v1/tenants", tenant_body("c1", admin_id, approver_id, "local", "cerner"),
                op.headers());
    EXPECT_EQ(cerner.status, 400);
    EXPECT_NE(cerner.body.find("ehr:"), std::string::npos) << cerner.body;
    auto no_admins = post_json(
      c, "/api/v1/tenants",
      R"({"id":"x","display_name":"X","region":"local","admins":[],"approver":"a","ehr":"epic"})",
      op.headers());
    EXPECT_EQ(no_admins.status, 400);
    EXPECT_NE(no_admins.body.find("admins: must not be empty"), std::string::npos)
      << no_admins.body;

    auto list = c.request("GET", "/api/v1/tenants", {}, op.headers());
    ASSERT_EQ(list.status, 200) << list.body;
    auto acme_at = list.body.find(R"("id":"acme")");
    auto other_at = list.body.find(R"("id":"other")");
    EXPECT_NE(acme_at, std::string::npos) << list.body;
    EXPECT_LT(acme_at, other_at) << "ordered by id";
    EXPECT_EQ(list.body.find(R"("id":"far")"), std::string::npos);

    // The box's audit log: who made which account and tenant, with the tenant's JSON.
    auto audit = c.request("GET", "/api/v1/audit?tenant=_box&limit=10", {}, op.headers());
    ASSERT_EQ(audit.status, 200) << audit.body;
    for (std::string action : {"operator.create", "account.create", "tenant.create"})
      EXPECT_NE(audit.body.find(R"("action":")" + action + "\""), std::string::npos)
        << action << " missing: " << audit.body;
    EXPECT_NE(audit.body.find(R"(\"display_name\":\"Acme Health\")"), std::string::npos)
      << audit.body;
    auto page = c.request("GET", "/api/v1/audit?tenant=_box&limit=2", {}, op.headers());
    EXPECT_NE(page.body.find("next_from"), std::string::npos) << page.body;
    EXPECT_EQ(c.request("GET", "/api/v1/audit?tenant=_box&limit=0", {}, op.headers()).status, 400);
    EXPECT_EQ(c.request("GET", "/api/v1/audit?tenant=_box&color=red", {}, op.headers()).status,
              400);
    EXPECT_EQ(c.request("GET", "/api/v1/audit", {}, op.headers()).status, 400);

    // The tenant admin sees their tenant and nothing else; the other tenant looks absent.
    tls_connection a{visitd.client()};
    auto adm = sign_in(a, "admin1", admin_password);
    EXPECT_EQ(a.request("GET", "/api/v1/tenants/acme", {}, adm.headers()).status, 200);
    auto hidden = a.request("GET", "/api/v1/tenants/other", {}, adm.headers());
    auto absent = a.request("GET", "/api/v1/tenants/nope", {}, adm.headers());
    EXPECT_EQ(hidden.status, 404);
    EXPECT_EQ(hidden.body, absent.body) << "a hidden tenant must look like a missing one";
    EXPECT_EQ(a.request("GET", "/api/v1/tenants", {}, adm.headers()).status, 403);
    EXPECT_EQ(a.request("GET", "/api/v1/audit?tenant=acme", {}, adm.headers()).status, 200);
    EXPECT_EQ(a.request("GET", "/api/v1/audit?tenant=other", {}, adm.headers()).status, 404);
    EXPECT_EQ(a.request("GET", "/api/v1/audit?tenant=_box", {}, adm.headers()).status, 404);
    EXPECT_EQ(
      post_json(a, "/api/v1/tenants", tenant_body("mine", admin_id, approver_id), adm.headers())
        .status,
      403);
    EXPECT_EQ(visitd.stop(SIGKILL), 128 + SIGKILL);
  }
  running_server again{VISITD_BINARY, data};
  again.wait_ready();
  tls_connection c{again.client()};
  auto op = sign_in(c, "ops", operator_password);
  auto list = c.request("GET", "/api/v1/tenants", {}, op.headers());
  EXPECT_NE(list.body.find(R"("id":"acme")"), std::string::npos) << list.body;
  auto adm = sign_in(c, "admin1", admin_password);  // the account survived too
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/acme", {}, adm.headers()).status, 200);
  EXPECT_EQ(again.stop(), 0);
}

/// An operator, an admin and an approver account, and tenant `id` of `ehr` kind; returns the
/// operator, admin and approver signed in.
struct tenant_people {
  signed_in_caller op, admin, approver;
  std::string admin_id, approver_id;
};

tenant_people make_tenant(tls_connection& c, const std::string& id, const std::string& ehr) {
  tenant_people p;
  p.op = sign_in(c, "ops", operator_password);
  auto admin = post_json(
    c, "/api/v1/accounts",
    R"({"login":"admin-)" + id + R"(","password":")" + admin_password + R"("})", p.op.headers());
  auto approver = post_json(
    c, "/api/v1/accounts",
    R"({"login":"approver-)" + id + R"(","password":")" + admin_password + R"("})", p.op.headers());
  p.admin_id = json_string_field(admin.body, "id");
  p.approver_id = json_string_field(approver.body, "id");
  auto created = post_json(
    c, "/api/v1/tenants", tenant_body(id, p.admin_id, p.approver_id, "local", ehr), p.op.headers());
  if (created.status != 201) throw std::runtime_error("tenant: " + created.body);
  p.admin = sign_in(c, "admin-" + id, admin_password);
  p.approver = sign_in(c, "approver-" + id, admin_password);
  return p;
}

const std::string settings =
  R"("base_url":"https://EHR.example.org:443/fhir/r4/","environment":"test","client_id":"visitd","client_type":"public")";

TEST(tenants, an_oracle_health_admin_registers_submits_and_approves_an_endpoint_alone) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto p = make_tenant(c, "acme", "oracle_health");
  const std::string endpoints = "/api/v1/tenants/acme/endpoints";

  auto by_approver =
    post_json(c, endpoints, R"({"id":"ep-1",)" + settings + "}", p.approver.headers());
  EXPECT_EQ(by_approver.status, 403) << "only admins register endpoints: " << by_approver.body;
  auto http_url = post_json(
    c, endpoints,
    R"({"id":"ep-1","base_url":"http://ehr.example.org/fhir","environment":"test","client_id":"v","client_type":"public"})",
    p.admin.headers());
  EXPECT_EQ(http_url.status, 400) << http_url.body;
  auto bad_env = post_json(
    c, endpoints,
    R"({"id":"ep-1","base_url":"https://ehr.example.org/fhir","environment":"staging","client_id":"v","client_type":"public"})",
    p.admin.headers());
  EXPECT_EQ(bad_env.status, 400);
  EXPECT_NE(bad_env.body.find("environment: must be test or production"), std::string::npos);

  auto created = post_json(c, endpoints, R"({"id":"ep-1",)" + settings + "}", p.admin.headers());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(created.body.find(R"("base_url":"https://ehr.example.org/fhir/r4")"), std::string::npos)
    << "stored normalized: " << created.body;
  EXPECT_NE(created.body.find(R"("state":"draft")"), std::string::npos);

  auto early = post_json(c, endpoints + "/ep-1/revisions/1/approve", "{}", p.admin.headers());
  EXPECT_EQ(early.status, 409) << "a draft cannot be approved: " << early.body;
  const std::string records = endpoints + "/ep-1/revisions/1/integration-records";
  EXPECT_EQ(c.request("GET", records, {}, p.admin.headers()).status, 409)
    << "no integration records for what may not launch";
  auto submitted = post_json(c, endpoints + "/ep-1/revisions/1/submit", "{}", p.admin.headers());
  ASSERT_EQ(submitted.status, 200) << submitted.body;
  auto approved = post_json(c, endpoints + "/ep-1/revisions/1/approve", "{}", p.admin.headers());
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_NE(approved.body.find(R"("state":"approved")"), std::string::npos) << approved.body;
  EXPECT_NE(approved.body.find(R"("in_force":1)"), std::string::npos) << approved.body;

  // What the EHR analyst enters: three launches, built from this box's own URL.
  auto entered = c.request("GET", records, {}, p.approver.headers());
  ASSERT_EQ(entered.status, 200) << entered.body;
  const auto public_url = "https://127.0.0.1:" + std::to_string(box.server.port());
  for (const auto* kind : {"provider", "patient", "device-test"})
    EXPECT_NE(entered.body.find(R"("launch_url":")" + public_url + "/smart/acme/ep-1/launch/" +
                                kind + "\""),
              std::string::npos)
      << kind << ": " << entered.body;
  EXPECT_NE(entered.body.find(R"("redirect_uri":")" + public_url + "/smart/acme/ep-1/callback\""),
            std::string::npos)
    << entered.body;
  EXPECT_NE(entered.body.find(R"("fhir_base_url":"https://ehr.example.org/fhir/r4")"),
            std::string::npos)
    << entered.body;
  EXPECT_EQ(
    c.request("GET", endpoints + "/ep-1/revisions/7/integration-records", {}, p.admin.headers())
      .status,
    404);

  // A change makes revision 2; revision 1 stays in force until 2 is approved.
  auto changed = post_json(
    c, endpoints + "/ep-1/revisions",
    R"({"base_url":"https://ehr2.example.org/fhir","environment":"test","client_id":"visitd","client_type":"public"})",
    p.admin.headers());
  ASSERT_EQ(changed.status, 201) << changed.body;
  EXPECT_NE(changed.body.find(R"("in_force":1)"), std::string::npos) << changed.body;
  EXPECT_EQ(post_json(c, endpoints + "/ep-1/revisions/9/submit", "{}", p.admin.headers()).status,
            404);
  EXPECT_EQ(post_json(c, endpoints + "/ep-1/revisions/x/submit", "{}", p.admin.headers()).status,
            404);

  // Outsiders cannot see the tenant's endpoints at all.
  auto other = make_tenant(c, "other", "epic");
  EXPECT_EQ(c.request("GET", endpoints, {}, other.admin.headers()).status, 404);
  auto listed = c.request("GET", endpoints, {}, p.approver.headers());
  ASSERT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find(R"("id":"ep-1")"), std::string::npos);
  EXPECT_EQ(box.server.stop(), 0);
}

TEST(tenants, a_smart_tenant_approver_cannot_approve_without_validating) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto p = make_tenant(c, "acme", "generic_smart");
  const std::string endpoints = "/api/v1/tenants/acme/endpoints";
  ASSERT_EQ(post_json(c, endpoints, R"({"id":"ep-1",)" + settings + "}", p.admin.headers()).status,
            201);
  ASSERT_EQ(post_json(c, endpoints + "/ep-1/revisions/1/submit", "{}", p.admin.headers()).status,
            200);
  auto by_admin = post_json(c, endpoints + "/ep-1/revisions/1/approve", "{}", p.admin.headers());
  EXPECT_EQ(by_admin.status, 403) << by_admin.body;
  auto unvalidated =
    post_json(c, endpoints + "/ep-1/revisions/1/approve", "{}", p.approver.headers());
  EXPECT_EQ(unvalidated.status, 409) << unvalidated.body;
  auto rejected = post_json(c, endpoints + "/ep-1/revisions/1/reject", "{}", p.approver.headers());
  EXPECT_EQ(rejected.status, 200) << rejected.body;
  EXPECT_NE(rejected.body.find(R"("state":"rejected")"), std::string::npos) << rejected.body;
  EXPECT_EQ(box.server.stop(), 0);
}

TEST(tenants, admins_open_visits_idempotently_and_issue_join_links) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto p = make_tenant(c, "acme", "oracle_health");
  const std::string endpoints = "/api/v1/tenants/acme/endpoints";
  const std::string visits = "/api/v1/tenants/acme/visits";
  const std::string visit_body =
    R"({"endpoint":"ep-1","appointment":"Appointment/123","department":"cardio","scheduled_start":"2099-11-25T09:30:00+01:00"})";
  ASSERT_EQ(post_json(c, endpoints, R"({"id":"ep-1",)" + settings + "}", p.admin.headers()).status,
            201);
  auto unapproved = post_json(c, visits, visit_body, p.admin.headers());
  EXPECT_EQ(unapproved.status, 409) << unapproved.body;
  ASSERT_EQ(post_json(c, endpoints + "/ep-1/revisions/1/submit", "{}", p.admin.headers()).status,
            200);
  ASSERT_EQ(post_json(c, endpoints + "/ep-1/revisions/1/approve", "{}", p.admin.headers()).status,
            200);

  auto opened = post_json(c, visits, visit_body, p.admin.headers());
  ASSERT_EQ(opened.status, 201) << opened.body;
  auto id = json_string_field(opened.body, "id");
  EXPECT_EQ(id.rfind("v-", 0), 0u) << opened.body;
  EXPECT_EQ(json_string_field(opened.body, "scheduled_start"), "2099-11-25T08:30:00Z");
  auto again = post_json(c, visits, visit_body, p.admin.headers());
  EXPECT_EQ(again.status, 200) << "the same reference is the same visit: " << again.body;
  EXPECT_EQ(json_string_field(again.body, "id"), id);

  for (
    auto [bad, field] :
    {std::pair{std::string{R"({"endpoint":"ep-1","scheduled_start":"2026-11-25T09:30:00Z"})"},
               std::string{"appointment:"}},
     std::pair{
       std::string{
         R"({"endpoint":"ep-1","appointment":"Appointment/1","scheduled_start":"tomorrow"})"},
       std::string{"scheduled_start:"}},
     std::pair{
       std::string{
         R"({"endpoint":"nope","appointment":"Appointment/1","scheduled_start":"2026-11-25T09:30:00Z"})"},
       std::string{"endpoint:"}}}) {
    auto refused = post_json(c, visits, bad, p.admin.headers());
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_NE(refused.body.find(field), std::string::npos) << refused.body;
  }

  auto got = c.request("GET", visits + "/" + id, {}, p.approver.headers());
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_NE(got.body.find(R"("status":"scheduled")"), std::string::npos) << got.body;
  EXPECT_EQ(c.request("GET", visits + "/v-nope", {}, p.admin.headers()).status, 404);
  auto other = make_tenant(c, "other", "epic");
  EXPECT_EQ(c.request("GET", visits + "/" + id, {}, other.admin.headers()).status, 404);
  EXPECT_EQ(
    c.request("GET", "/api/v1/tenants/other/visits/" + id, {}, other.admin.headers()).status, 404)
    << "a visit of another tenant is not found through this one";

  auto link =
    post_json(c, visits + "/" + id + "/join-links", R"({"role":"patient"})", p.admin.headers());
  ASSERT_EQ(link.status, 201) << link.body;
  auto url = json_string_field(link.body, "url");
  EXPECT_EQ(url.rfind("/join/", 0), 0u) << link.body;
  EXPECT_EQ(url.find("acme"), std::string::npos) << "the link must be opaque";
  EXPECT_EQ(url.find(id), std::string::npos) << "the link must be opaque";
  EXPECT_EQ(json_string_field(link.body, "expires_at"), "2099-11-25T20:30:00Z");
  // Both admin actions are audited under the tenant; the link's secret is not in the log.
  auto audit = c.request("GET", "/api/v1/audit?tenant=acme", {}, p.admin.headers());
  EXPECT_NE(
    audit.body.find(R"("actor":")" + p.admin_id + R"(","action":"visit.open","target":")" + id),
    std::string::npos)
    << audit.body;
  EXPECT_NE(audit.body.find(R"("action":"visit.join_link","target":")" + id), std::string::npos)
    << audit.body;
  EXPECT_NE(audit.body.find(R"(\"role\":\"patient\")"), std::string::npos) << audit.body;
  EXPECT_EQ(audit.body.find(url.substr(6)), std::string::npos) << "the token leaked into the log";
  auto provider =
    post_json(c, visits + "/" + id + "/join-links", R"({"role":"provider"})", p.admin.headers());
  EXPECT_EQ(provider.status, 400) << provider.body;
  auto by_approver =
    post_json(c, visits + "/" + id + "/join-links", R"({"role":"guest"})", p.approver.headers());
  EXPECT_EQ(by_approver.status, 403) << by_approver.body;
  EXPECT_EQ(box.server.stop(), 0);
}

TEST(tenants, the_operator_updates_suspends_and_reactivates_a_tenant_and_each_change_is_audited) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto p = make_tenant(c, "acme", "oracle_health");
  const std::string tenant = "/api/v1/tenants/acme";
  auto patch = [&](const signed_in_caller& who, const std::string& body) {
    auto headers = who.headers();
    headers.emplace_back("Content-Type", "application/json");
    return c.request("PATCH", tenant, body, headers);
  };

  // Update: only the given fields change; the admin may not; bad fields are named.
  auto renamed =
    patch(p.op, R"({"display_name":"Acme Clinics","approver":")" + p.admin_id + R"("})");
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(json_string_field(renamed.body, "display_name"), "Acme Clinics");
  EXPECT_EQ(json_string_field(renamed.body, "approver"), p.admin_id);
  EXPECT_EQ(json_string_field(renamed.body, "region"), "local") << "not given: kept";
  EXPECT_EQ(patch(p.admin, R"({"display_name":"Mine now"})").status, 403);
  for (const auto& [body, named] :
       std::vector<std::pair<std::string, std::string>>{{R"({})", "display_name:"},
                                                        {R"({"admins":[]})", "admins"},
                                                        {R"({"region":"eu"})", "region:"},
                                                        {R"({"approver":""})", "approver"}}) {
    auto refused = patch(p.op, body);
    EXPECT_EQ(refused.status, 400) << body << ": " << refused.body;
    EXPECT_NE(refused.body.find(named), std::string::npos) << body << ": " << refused.body;
  }
  auto op_json = p.op.headers();
  op_json.emplace_back("Content-Type", "application/json");
  EXPECT_EQ(c.request("PATCH", "/api/v1/tenants/nobody", R"({"display_name":"X"})", op_json).status,
            404);

  // Suspension: twice is a conflict; while suspended no endpoint changes and no visits.
  EXPECT_EQ(post_json(c, tenant + "/suspend", "", p.admin.headers()).status, 403);
  auto suspended = post_json(c, tenant + "/suspend", "", p.op.headers());
  ASSERT_EQ(suspended.status, 200) << suspended.body;
  EXPECT_EQ(json_string_field(suspended.body, "status"), "suspended");
  EXPECT_EQ(post_json(c, tenant + "/suspend", "", p.op.headers()).status, 409);
  auto endpoint =
    post_json(c, tenant + "/endpoints", R"({"id":"ep-1",)" + settings + "}", p.admin.headers());
  EXPECT_EQ(endpoint.status, 409) << endpoint.body;
  EXPECT_NE(endpoint.body.find("suspended"), std::string::npos) << endpoint.body;
  auto visit = post_json(
    c, tenant + "/visits",
    R"({"endpoint":"ep-1","appointment":"Appointment/1","scheduled_start":"2099-01-01T10:00:00Z"})",
    p.admin.headers());
  EXPECT_EQ(visit.status, 409) << visit.body;
  auto reactivated = post_json(c, tenant + "/reactivate", "", p.op.headers());
  ASSERT_EQ(reactivated.status, 200) << reactivated.body;
  EXPECT_EQ(json_string_field(reactivated.body, "status"), "active");
  EXPECT_EQ(
    post_json(c, tenant + "/endpoints", R"({"id":"ep-1",)" + settings + "}", p.admin.headers())
      .status,
    201);

  // Each change is in the box's audit log with who did it and the tenant before and after.
  auto audit = c.request("GET", "/api/v1/audit?tenant=_box", {}, p.op.headers());
  ASSERT_EQ(audit.status, 200) << audit.body;
  for (const auto* action : {"tenant.update", "tenant.suspend", "tenant.reactivate"})
    EXPECT_NE(audit.body.find(std::string{"\"action\":\""} + action + "\""), std::string::npos)
      << action << " in " << audit.body;
  EXPECT_NE(audit.body.find(R"(\"display_name\":\"Acme Clinics\")"), std::string::npos)
    << "the after snapshot: " << audit.body;
  auto tenant_audit = c.request("GET", "/api/v1/audit?tenant=acme", {}, p.admin.headers());
  EXPECT_NE(tenant_audit.body.find(R"("action":"endpoint.create")"), std::string::npos)
    << tenant_audit.body;

  // Durable: after kill -9 the tenant is as last changed.
  EXPECT_EQ(box.server.stop(SIGKILL), 128 + SIGKILL);
  running_server again{VISITD_BINARY, box.data_dir()};
  again.wait_ready();
  tls_connection c2{again.client()};
  auto op = sign_in(c2, "ops", operator_password);
  auto got = c2.request("GET", tenant, {}, op.headers());
  EXPECT_EQ(json_string_field(got.body, "display_name"), "Acme Clinics") << got.body;
  EXPECT_EQ(json_string_field(got.body, "status"), "active") << got.body;
  EXPECT_EQ(again.stop(), 0);
}

TEST(tenants, api_tokens_act_for_their_admin_in_one_tenant_until_revoked_and_survive_restarts) {
  started_box box{VISITD_BINARY, "ops", operator_password};
  auto& c = box.connection;
  auto p = make_tenant(c, "acme", "oracle_health");
  make_tenant(c, "other", "epic");
  const std::string tokens = "/api/v1/tenants/acme/api-tokens";

  auto made = post_json(c, tokens, R"({"label":"nightly export"})", p.admin.headers());
  ASSERT_EQ(made.status, 201) << made.body;
  const auto secret = json_string_field(made.body, "token");
  const auto token_id = json_string_field(made.body, "id");
  EXPECT_EQ(secret.rfind("vt_", 0), 0u) << made.body;
  EXPECT_EQ(json_string_field(made.body, "owner"), p.admin_id);
  EXPECT_EQ(post_json(c, tokens, R"({"label":"x"})", p.approver.headers()).status, 403)
    << "only admins make tokens";
  EXPECT_EQ(post_json(c, tokens, R"({"label":""})", p.admin.headers()).status, 400);
  auto listed = c.request("GET", tokens, {}, p.admin.headers());
  EXPECT_NE(listed.body.find(token_id), std::string::npos) << listed.body;
  EXPECT_EQ(listed.body.find(secret), std::string::npos) << "secrets are shown once only";

  // The token acts as the admin, in acme only, with no CSRF header and no cookie.
  header_list bearer{{"Authorization", "Bearer " + secret}};
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/acme", {}, bearer).status, 200);
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/other", {}, bearer).status, 404);
  EXPECT_EQ(c.request("GET", "/api/v1/tenants", {}, bearer).status, 403);
  EXPECT_EQ(c.request("GET", "/api/v1/audit?tenant=other", {}, bearer).status, 404);
  auto endpoint =
    post_json(c, "/api/v1/tenants/acme/endpoints", R"({"id":"ep-1",)" + settings + "}", bearer);
  EXPECT_EQ(endpoint.status, 201) << endpoint.body;
  EXPECT_EQ(post_json(c, tokens, R"({"label":"more"})", bearer).status, 403)
    << "a token cannot make tokens";
  EXPECT_EQ(
    c.request("GET", "/api/v1/tenants/acme", {}, {{"Authorization", "Bearer vt_nope"}}).status,
    401);
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/acme", {}, {{"Authorization", "Basic eDp5"}}).status,
            401);
  auto audit = c.request("GET", "/api/v1/audit?tenant=acme", {}, bearer);
  EXPECT_NE(audit.body.find(R"("action":"api_token.create","target":")" + token_id),
            std::string::npos)
    << audit.body;
  EXPECT_NE(audit.body.find(R"("actor":")" + p.admin_id + R"(","action":"endpoint.create")"),
            std::string::npos)
    << "the token's writes are audited as its admin's: " << audit.body;

  // Revoked: refused at once. Another token survives kill -9 and a restart.
  auto kept = post_json(c, tokens, R"({"label":"kept"})", p.admin.headers());
  ASSERT_EQ(kept.status, 201) << kept.body;
  auto admin_json = p.admin.headers();
  EXPECT_EQ(c.request("DELETE", tokens + "/" + token_id, {}, admin_json).status, 204);
  EXPECT_EQ(c.request("GET", "/api/v1/tenants/acme", {}, bearer).status, 401);
  EXPECT_EQ(c.request("DELETE", tokens + "/" + token_id, {}, admin_json).status, 404);
  EXPECT_EQ(box.server.stop(SIGKILL), 128 + SIGKILL);
  running_server again{VISITD_BINARY, box.data_dir()};
  again.wait_ready();
  tls_connection c2{again.client()};
  EXPECT_EQ(c2.request("GET", "/api/v1/tenants/acme", {},
                       {{"Authorization", "Bearer " + json_string_field(kept.body, "token")}})
              .status,
            200);
  EXPECT_EQ(c2.request("GET", "/api/v1/tenants/acme", {}, bearer).status, 401)
    << "a revoked token stays revoked";
  EXPECT_EQ(again.stop(), 0);
}

}  // namespace
}  // namespace visitd::test
