#include "storage/retention.hpp"

#include "storage/keys.hpp"
#include "store_fixture.hpp"

namespace visitd::storage {
namespace {

using namespace testing;
using namespace domain;
using std::chrono::days;

TEST_F(store_test, ended_visits_lose_raw_events_after_the_retention_only) {
  stored_visit old_ended{*store_, "visit-old", "t1", at(0)};
  old_ended.start_consultation(at(1));
  old_ended.end(at(100));
  stored_visit recent_ended{*store_, "visit-recent", "t1", at(0) + days(20)};
  recent_ended.start_consultation(at(1) + days(20));
  recent_ended.end(at(100) + days(20));
  stored_visit still_open{*store_, "visit-open", "t1", at(0)};
  still_open.start_consultation(at(1));

  auto now = at(0) + days(31);
  auto outcome = apply_retention(*store_, now, {days(30), days(730)});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->visits_purged, 1u);

  EXPECT_TRUE(read_events(*store_, id<visit_id>("visit-old"))->empty());
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-recent"))->size(),
            recent_ended.events().size());
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-open"))->size(), still_open.events().size());
  auto header = load_visit_header(*store_, id<visit_id>("visit-old"));
  ASSERT_TRUE(header);
  EXPECT_TRUE(header->events_purged);
  EXPECT_TRUE(header->ended_at.has_value());
  // The report row outlives the raw events.
  EXPECT_TRUE(store_->get(column::reports, keys::report("t1", day_of(at(0)), "visit-old")));

  // Idempotent: nothing more to purge.
  EXPECT_EQ(apply_retention(*store_, now, {days(30), days(730)})->visits_purged, 0u);
}

TEST_F(store_test, report_rows_expire_per_tenant_by_day) {
  auto t1 = make_tenant(id<tenant_id>("t1"), "A", "eu", {id<account_id>("a")}, id<account_id>("a"),
                        ehr_kind::epic);
  auto t10 = make_tenant(id<tenant_id>("t10"), "B", "eu", {id<account_id>("a")},
                         id<account_id>("a"), ehr_kind::epic);
  ASSERT_TRUE(t1 && t10);
  ASSERT_TRUE(store_->write(tenant_ops(*t1)));
  ASSERT_TRUE(store_->write(tenant_ops(*t10)));
  for (auto [tenant, day] :
       {std::pair{"t1", 100}, std::pair{"t1", 200}, std::pair{"t10", 100}, std::pair{"t10", 300}})
    ASSERT_TRUE(store_->put(column::reports, keys::report(tenant, day, "v"), "row"));

  timestamp now{days(250)};
  auto outcome = apply_retention(*store_, now, {days(30), days(100)});  // cutoff: day 150
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_FALSE(store_->get(column::reports, keys::report("t1", 100, "v")));
  EXPECT_TRUE(store_->get(column::reports, keys::report("t1", 200, "v")));
  EXPECT_FALSE(store_->get(column::reports, keys::report("t10", 100, "v")));
  EXPECT_TRUE(store_->get(column::reports, keys::report("t10", 300, "v")));
}

}  // namespace
}  // namespace visitd::storage
