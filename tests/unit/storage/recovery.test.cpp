#include "storage/recovery.hpp"

#include "storage/keys.hpp"
#include "store_fixture.hpp"

namespace visitd::storage {
namespace {

using namespace testing;
using namespace domain;

tenant make_test_tenant(std::string_view tenant_name) {
  auto t =
    make_tenant(id<tenant_id>(tenant_name), "General Hospital", "eu-west",
                {id<account_id>("admin-1")}, id<account_id>("approver-1"), ehr_kind::generic_smart);
  EXPECT_TRUE(t) << t.err().message;
  return *t;
}

fhir_endpoint make_test_endpoint(const tenant& t, std::string_view url) {
  auto settings =
    make_endpoint_settings(url, fhir_environment::test, "client-1", client_type::public_client);
  EXPECT_TRUE(settings) << settings.err().message;
  auto e = create_endpoint(t, id<account_id>("admin-1"), id<endpoint_id>("ep-1"), *settings, at(0));
  EXPECT_TRUE(e) << e.err().message;
  return *e;
}

TEST_F(store_test, endpoint_url_index_follows_revisions) {
  auto t = make_test_tenant("t1");
  auto e = make_test_endpoint(t, "https://EHR.example.org:443/fhir/r4/");
  ASSERT_TRUE(store_->write(endpoint_ops(nullptr, e)));
  auto found = find_endpoints_by_url(*store_, "https://ehr.example.org/fhir/r4");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].first.str(), "t1");
  EXPECT_EQ((*found)[0].second.str(), "ep-1");

  // A draft edited in place to another URL: the old URL leaves the index.
  auto settings = make_endpoint_settings("https://other.example.org/fhir", fhir_environment::test,
                                         "client-1", client_type::public_client);
  auto changed = propose_change(e, t, id<account_id>("admin-1"), *settings, at(10));
  ASSERT_TRUE(changed) << changed.err().message;
  ASSERT_TRUE(store_->write(endpoint_ops(&e, *changed)));
  EXPECT_TRUE(find_endpoints_by_url(*store_, "https://ehr.example.org/fhir/r4")->empty());
  EXPECT_EQ(find_endpoints_by_url(*store_, "https://other.example.org/fhir")->size(), 1u);
  // A URL that extends another is not a match for it.
  EXPECT_TRUE(find_endpoints_by_url(*store_, "https://other.example.org/fhi")->empty());
}

TEST_F(store_test, visit_header_round_trips_and_rejects_garbage) {
  stored_visit v{*store_, "visit-1", "t1", at(0)};
  visit_header h{v.state().info, at(100), true};
  auto decoded = decode_header(encode_header(h));
  ASSERT_TRUE(decoded) << decoded.err().message;
  EXPECT_EQ(*decoded, h);
  EXPECT_FALSE(decode_header(""));
  EXPECT_FALSE(decode_header("\x02\x00"));
  auto bytes = encode_header(h);
  EXPECT_FALSE(decode_header(bytes.substr(0, bytes.size() - 1)));
}

TEST_F(store_test, load_tenant_reads_one_tenant_with_its_endpoints_only) {
  auto t1 = make_test_tenant("t1");
  auto t10 = make_test_tenant("t10");  // its keys start with "t1": must not leak into t1's
  ASSERT_TRUE(store_->write(tenant_ops(t1)));
  ASSERT_TRUE(store_->write(tenant_ops(t10)));
  ASSERT_TRUE(
    store_->write(endpoint_ops(nullptr, make_test_endpoint(t1, "https://a.example/fhir"))));
  ASSERT_TRUE(
    store_->write(endpoint_ops(nullptr, make_test_endpoint(t10, "https://b.example/fhir"))));

  auto loaded = load_tenant(*store_, t1.id);
  ASSERT_TRUE(loaded) << loaded.err().message;
  EXPECT_EQ(loaded->tenant, t1);
  ASSERT_EQ(loaded->endpoints.size(), 1u);
  EXPECT_EQ(loaded->endpoints[0].tenant, t1.id);
  EXPECT_EQ(loaded->endpoints[0].revisions.back().settings.base_url, "https://a.example/fhir");

  auto missing = load_tenant(*store_, id<tenant_id>("t2"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().code, errc::not_found);

  ASSERT_TRUE(store_->write(std::vector<write_op>{
    {column::endpoints, keys::endpoint("t10", "ep-1"), std::string{"garbage"}}}));
  auto corrupt = load_tenant(*store_, t10.id);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.err().code, errc::storage_failure);
  EXPECT_NE(corrupt.err().message.find("endpoint record"), std::string::npos);
}

TEST_F(store_test, recovery_rebuilds_tenants_endpoints_and_open_visits_only) {
  auto t = make_test_tenant("t1");
  auto e = make_test_endpoint(t, "https://ehr.example.org/fhir");
  ASSERT_TRUE(store_->write(tenant_ops(t)));
  ASSERT_TRUE(store_->write(endpoint_ops(nullptr, e)));

  stored_visit open_one{*store_, "visit-open", "t1", at(0)};
  open_one.start_consultation(at(1));
  stored_visit waiting{*store_, "visit-waiting", "t1", at(0)};
  waiting.run(cmd::join{id<participant_id>("pat"), id<device_id>("d"), participant_role::patient,
                        id<join_id>("j-9")},
              at(5));
  stored_visit ended{*store_, "visit-ended", "t1", at(0)};
  ended.start_consultation(at(1));
  ended.end(at(600));
  ASSERT_EQ(ended.state().status, visit_status::ended);

  reopen();  // a restart
  auto recovered = recover(*store_);
  ASSERT_TRUE(recovered) << recovered.err().message;
  ASSERT_EQ(recovered->tenants.size(), 1u);
  EXPECT_EQ(recovered->tenants[0], t);
  ASSERT_EQ(recovered->endpoints.size(), 1u);
  EXPECT_EQ(recovered->endpoints[0], e);
  EXPECT_EQ(recovered->ended_visits, 1u);
  ASSERT_EQ(recovered->open_visits.size(), 2u);
  for (const auto& state : recovered->open_visits) {
    const auto& live = state.info.id.str() == "visit-open" ? open_one.state() : waiting.state();
    EXPECT_EQ(state, live) << state.info.id.str();
  }
  EXPECT_EQ(recovered->events_read, open_one.events().size() + waiting.events().size());

  // The ended visit has its report row.
  auto row = store_->get(column::reports, keys::report("t1", day_of(at(0)), "visit-ended"));
  ASSERT_TRUE(row);
}

TEST_F(store_test, recovery_reports_corruption_instead_of_half_loading) {
  stored_visit v{*store_, "visit-1", "t1", at(0)};
  v.start_consultation(at(1));
  ASSERT_TRUE(store_->put(column::events, keys::event("visit-1", 2), "\x01\xff"));
  auto recovered = recover(*store_);
  ASSERT_FALSE(recovered);
  EXPECT_EQ(recovered.err().code, errc::storage_failure);
  EXPECT_NE(recovered.err().message.find("visit-1"), std::string::npos) << recovered.err().message;

  ASSERT_TRUE(store_->put(column::tenants, "t-broken", "not a tenant"));
  auto again = recover(*store_);
  ASSERT_FALSE(again);
  EXPECT_NE(again.err().message.find("t-broken"), std::string::npos) << again.err().message;
}

}  // namespace
}  // namespace visitd::storage
