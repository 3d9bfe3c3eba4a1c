#include "domain/fhir_endpoint.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace visitd::domain {
namespace {

using testing::rev;
using testing::t0;

using namespace std::chrono_literals;
using testing::aid;
using testing::euid;
using testing::make_id;

// -- URL normalization -------------------------------------------------------------------------

TEST(fhir_base_url, normalizes_case_port_and_trailing_slash) {
  EXPECT_EQ(normalize_fhir_base_url("HTTPS://FHIR.Example.ORG:443/api/FHIR/R4/").value(),
            "https://fhir.example.org/api/FHIR/R4");
  EXPECT_EQ(normalize_fhir_base_url("https://fhir.example.org").value(),
            "https://fhir.example.org");
  EXPECT_EQ(normalize_fhir_base_url("https://fhir.example.org/").value(),
            "https://fhir.example.org");
  EXPECT_EQ(normalize_fhir_base_url("https://h.example:8443/r4//").value(),
            "https://h.example:8443/r4");
  EXPECT_EQ(normalize_fhir_base_url("https://h.example/a/./b/../r4").value(),
            "https://h.example/a/r4");
  EXPECT_EQ(normalize_fhir_base_url("https://h.example:/r4").value(), "https://h.example/r4");
  EXPECT_EQ(normalize_fhir_base_url("https://[::1]:9443/r4").value(), "https://[::1]:9443/r4");
}

TEST(fhir_base_url, http_only_when_allowed) {
  auto r = normalize_fhir_base_url("http://localhost:80/fhir");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.err().message.find("https"), std::string::npos);
  EXPECT_EQ(normalize_fhir_base_url("http://LocalHost:80/fhir", true).value(),
            "http://localhost/fhir");
  EXPECT_EQ(normalize_fhir_base_url("http://localhost:8080/fhir", true).value(),
            "http://localhost:8080/fhir");
}

TEST(fhir_base_url, rejects_what_is_not_a_base_url) {
  for (const char* bad :
       {"", "fhir.example.org/r4", "/r4", "ftp://h.example/r4", "https:///r4", "https://h/r4?x=1",
        "https://h/r4#frag", "https://user:pw@h/r4", "https://h:99999/r4", "https://h:0/r4",
        "https://h:44x/r4", "https://h e/r4", "mailto:a@b"}) {
    auto r = normalize_fhir_base_url(bad);
    ASSERT_FALSE(r.has_value()) << bad << " -> " << r.value();
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_NE(r.err().message.find("base_url"), std::string::npos) << r.err().message;
  }
  EXPECT_FALSE(normalize_fhir_base_url("https://h.example/" + std::string(2100, 'a')));
}

TEST(endpoint_settings, validates_client_id) {
  EXPECT_TRUE(make_endpoint_settings("https://h/r4", fhir_environment::test, "abc-123",
                                     client_type::public_client));
  for (std::string bad : {std::string{}, std::string(257, 'c'), std::string{"a b"}}) {
    auto r = make_endpoint_settings("https://h/r4", fhir_environment::test, bad,
                                    client_type::public_client);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.err().message.find("client_id"), std::string::npos);
  }
  auto r = make_endpoint_settings("https://H/r4/", fhir_environment::production, "c",
                                  client_type::confidential_private_key_jwt);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->base_url, "https://h/r4");
}

// -- approval state machine --------------------------------------------------------------------

endpoint_settings settings(std::string_view url = "https://ehr.example/r4",
                           std::string_view client = "client-1") {
  return make_endpoint_settings(url, fhir_environment::production, client,
                                client_type::confidential_private_key_jwt)
    .value();
}

tenant make_test_tenant(ehr_kind kind, std::string_view approver = "apr") {
  return make_tenant(make_id<tenant_id>("acme"), "Acme", "eu", {aid("adm")}, aid(approver), kind)
    .value();
}

class approval : public ::testing::Test {
protected:
  tenant t_ = make_test_tenant(ehr_kind::epic);
  fhir_endpoint ep_ =
    create_endpoint(t_, aid("adm"), make_id<endpoint_id>("ep1"), settings(), t0).value();

  void step(result<fhir_endpoint> r) {
    ASSERT_TRUE(r.has_value()) << r.err().message;
    ep_ = std::move(r).value();
  }
  errc refused(const result<fhir_endpoint>& r) {
    EXPECT_FALSE(r.has_value());
    return r ? errc::internal : r.err().code;
  }
  revision_state state_of(std::uint32_t n) { return find_revision(ep_, rev(n))->state; }

  void approve_revision(std::uint32_t n) {
    step(submit(ep_, t_, aid("adm"), rev(n), t0));
    step(record_validation(ep_, t_, aid("apr"), rev(n), euid("Practitioner/9"), t0 + 1min));
    step(approve(ep_, t_, aid("apr"), rev(n), t0 + 2min));
  }
};

TEST_F(approval, create_needs_an_admin_of_an_active_tenant) {
  EXPECT_EQ(ep_.revisions.size(), 1U);
  EXPECT_EQ(state_of(1), revision_state::draft);
  EXPECT_EQ(in_force(ep_), nullptr);
  EXPECT_EQ(refused(create_endpoint(t_, aid("apr"), make_id<endpoint_id>("x"), settings(), t0)),
            errc::forbidden);
  ASSERT_TRUE(suspend(t_).has_value());
  EXPECT_EQ(refused(create_endpoint(t_, aid("adm"), make_id<endpoint_id>("x"), settings(), t0)),
            errc::conflict);
}

TEST_F(approval, happy_path_records_who_validated_and_approved) {
  approve_revision(1);
  const auto* r = in_force(ep_);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->number, rev(1));
  EXPECT_EQ(r->validated_by, aid("apr"));
  EXPECT_EQ(r->validated_as, euid("Practitioner/9"));
  EXPECT_EQ(r->validated_at, t0 + 1min);
  EXPECT_EQ(r->decided_by, aid("apr"));
}

TEST_F(approval, submit_only_by_admin_and_only_drafts) {
  EXPECT_EQ(refused(submit(ep_, t_, aid("apr"), rev(1), t0)), errc::forbidden);
  EXPECT_EQ(refused(submit(ep_, t_, aid("adm"), rev(2), t0)), errc::not_found);
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  EXPECT_EQ(state_of(1), revision_state::awaiting_validation);
  EXPECT_EQ(refused(submit(ep_, t_, aid("adm"), rev(1), t0)), errc::conflict);
}

TEST_F(approval, validation_only_by_the_approver_of_a_submitted_revision) {
  EXPECT_EQ(refused(record_validation(ep_, t_, aid("apr"), rev(1), euid("Practitioner/9"), t0)),
            errc::conflict);
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  EXPECT_EQ(refused(record_validation(ep_, t_, aid("adm"), rev(1), euid("Practitioner/9"), t0)),
            errc::forbidden);
  step(record_validation(ep_, t_, aid("apr"), rev(1), euid("Practitioner/9"), t0));
  EXPECT_EQ(state_of(1), revision_state::validated);
  EXPECT_EQ(refused(record_validation(ep_, t_, aid("apr"), rev(1), euid("Practitioner/9"), t0)),
            errc::conflict);
}

TEST_F(approval, approval_requires_validation_by_the_same_approver) {
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  auto early = approve(ep_, t_, aid("apr"), rev(1), t0);
  EXPECT_EQ(refused(early), errc::conflict);
  EXPECT_NE(early.err().message.find("validated"), std::string::npos);
  step(record_validation(ep_, t_, aid("apr"), rev(1), euid("Practitioner/9"), t0));
  EXPECT_EQ(refused(approve(ep_, t_, aid("adm"), rev(1), t0)), errc::forbidden);
  // The approver changes: the old validation does not let the new approver approve.
  ASSERT_TRUE(set_approver(t_, aid("adm"), aid("apr2")).has_value());
  EXPECT_EQ(refused(approve(ep_, t_, aid("apr2"), rev(1), t0)), errc::forbidden);
  EXPECT_EQ(refused(approve(ep_, t_, aid("apr"), rev(1), t0)), errc::forbidden);
}

TEST_F(approval, admin_and_approver_may_be_one_account) {
  t_ = make_test_tenant(ehr_kind::generic_smart, "adm");
  ep_ = create_endpoint(t_, aid("adm"), make_id<endpoint_id>("ep1"), settings(), t0).value();
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  step(record_validation(ep_, t_, aid("adm"), rev(1), euid("Practitioner/1"), t0));
  step(approve(ep_, t_, aid("adm"), rev(1), t0));
  EXPECT_NE(in_force(ep_), nullptr);
}

TEST_F(approval, a_change_makes_a_new_revision_and_the_old_stays_in_force) {
  approve_revision(1);
  EXPECT_EQ(refused(propose_change(ep_, t_, aid("adm"), settings(), t0)), errc::conflict);
  EXPECT_EQ(refused(propose_change(ep_, t_, aid("apr"), settings("https://new.example/r4"), t0)),
            errc::forbidden);
  step(propose_change(ep_, t_, aid("adm"), settings("https://new.example/r4"), t0 + 1h));
  ASSERT_EQ(ep_.revisions.size(), 2U);
  EXPECT_EQ(state_of(2), revision_state::draft);
  EXPECT_EQ(in_force(ep_)->number, rev(1));
  // Editing the draft keeps its number.
  step(propose_change(ep_, t_, aid("adm"), settings("https://new.example/r4", "c2"), t0 + 2h));
  ASSERT_EQ(ep_.revisions.size(), 2U);
  EXPECT_EQ(latest(ep_)->settings.client_id, "c2");
  step(submit(ep_, t_, aid("adm"), rev(2), t0));
  step(record_validation(ep_, t_, aid("apr"), rev(2), euid("Practitioner/9"), t0));
  EXPECT_EQ(in_force(ep_)->number, rev(1)) << "validated is not yet in force";
  step(approve(ep_, t_, aid("apr"), rev(2), t0 + 3h));
  EXPECT_EQ(in_force(ep_)->number, rev(2));
  EXPECT_EQ(state_of(1), revision_state::superseded);
}

TEST_F(approval, a_change_supersedes_a_pending_revision) {
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  step(propose_change(ep_, t_, aid("adm"), settings("https://new.example/r4"), t0));
  EXPECT_EQ(state_of(1), revision_state::superseded);
  EXPECT_EQ(state_of(2), revision_state::draft);
  EXPECT_EQ(refused(record_validation(ep_, t_, aid("apr"), rev(1), euid("Practitioner/9"), t0)),
            errc::conflict);
}

TEST_F(approval, reject_by_the_approver_of_pending_revisions) {
  EXPECT_EQ(refused(reject(ep_, t_, aid("apr"), rev(1), t0)), errc::conflict);
  step(submit(ep_, t_, aid("adm"), rev(1), t0));
  EXPECT_EQ(refused(reject(ep_, t_, aid("adm"), rev(1), t0)), errc::forbidden);
  step(reject(ep_, t_, aid("apr"), rev(1), t0));
  EXPECT_EQ(state_of(1), revision_state::rejected);
  EXPECT_EQ(refused(approve(ep_, t_, aid("apr"), rev(1), t0)), errc::conflict);
  // Resubmitting the same settings after a rejection is a new revision.
  step(propose_change(ep_, t_, aid("adm"), settings(), t0));
  EXPECT_EQ(latest(ep_)->number, rev(2));
}

TEST_F(approval, revoke_stops_launches) {
  EXPECT_EQ(refused(revoke(ep_, t_, aid("adm"), t0)), errc::conflict);
  approve_revision(1);
  EXPECT_EQ(refused(revoke(ep_, t_, aid("stranger"), t0)), errc::forbidden);
  ASSERT_TRUE(suspend(t_).has_value());
  step(revoke(ep_, t_, aid("apr"), t0));
  EXPECT_EQ(in_force(ep_), nullptr);
  EXPECT_EQ(state_of(1), revision_state::revoked);
}

TEST_F(approval, suspended_tenant_refuses_changes) {
  ASSERT_TRUE(suspend(t_).has_value());
  EXPECT_EQ(refused(submit(ep_, t_, aid("adm"), rev(1), t0)), errc::conflict);
  EXPECT_EQ(refused(propose_change(ep_, t_, aid("adm"), settings("https://x.example"), t0)),
            errc::conflict);
}

TEST_F(approval, endpoint_of_another_tenant_is_refused) {
  auto other = make_tenant(make_id<tenant_id>("other"), "Other", "eu", {aid("adm")}, aid("apr"),
                           ehr_kind::epic)
                 .value();
  EXPECT_EQ(refused(submit(ep_, other, aid("adm"), rev(1), t0)), errc::invalid_argument);
}

TEST_F(approval, find_endpoint_finds_by_id_among_the_tenants_endpoints) {
  auto other = create_endpoint(t_, aid("adm"), make_id<endpoint_id>("ep2"), settings(), t0).value();
  const std::vector<fhir_endpoint> all{ep_, other};
  ASSERT_NE(find_endpoint(all, make_id<endpoint_id>("ep2")), nullptr);
  EXPECT_EQ(find_endpoint(all, make_id<endpoint_id>("ep2")), &all[1]);
  EXPECT_EQ(find_endpoint(all, make_id<endpoint_id>("ep1")), &all[0]);
  EXPECT_EQ(find_endpoint(all, make_id<endpoint_id>("ep3")), nullptr);
  EXPECT_EQ(find_endpoint({}, make_id<endpoint_id>("ep1")), nullptr);
}

TEST(approval_oracle, admin_alone_approves_without_validation) {
  tenant t = make_test_tenant(ehr_kind::oracle_health);
  auto ep = create_endpoint(t, aid("adm"), make_id<endpoint_id>("ep"), settings(), t0).value();
  EXPECT_EQ(approve(ep, t, aid("adm"), rev(1), t0).err().code, errc::conflict);
  ep = submit(ep, t, aid("adm"), rev(1), t0).value();
  EXPECT_EQ(record_validation(ep, t, aid("apr"), rev(1), euid("Practitioner/1"), t0).err().code,
            errc::conflict);
  EXPECT_EQ(approve(ep, t, aid("apr"), rev(1), t0).err().code, errc::forbidden);
  auto approved = approve(ep, t, aid("adm"), rev(1), t0);
  ASSERT_TRUE(approved.has_value()) << approved.err().message;
  EXPECT_EQ(in_force(*approved)->decided_by, aid("adm"));
  EXPECT_EQ(in_force(*approved)->validated_by, std::nullopt);
}

TEST(launch_environment, test_and_production_never_mix) {
  EXPECT_TRUE(check_launch_environment(fhir_environment::test, fhir_environment::test));
  EXPECT_TRUE(check_launch_environment(fhir_environment::production, fhir_environment::production));
  auto r = check_launch_environment(fhir_environment::test, fhir_environment::production);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::invalid_argument);
  EXPECT_NE(r.err().message.find("test"), std::string::npos);
  EXPECT_NE(r.err().message.find("production"), std::string::npos);
}

}  // namespace
}  // namespace visitd::domain
