#include "storage/retention.hpp"

#include "domain/audit.hpp"
#include "storage/audit_log.hpp"
#include "storage/keys.hpp"
#include "storage/outbox.hpp"
#include "storage/visit_log.hpp"
#include "store_fixture.hpp"

#include <string>
#include <vector>

namespace visitd::storage {
namespace {

using namespace testing;
using namespace domain;
using std::chrono::days;
using std::chrono::microseconds;

void put_audit(store& s, const tenant_id& tenant, timestamp when, std::uint32_t seq = 0) {
  auto entry =
    make_audit_entry(tenant, id<account_id>("admin"), "endpoint.approve", "ep-1", when, "{}", "{}");
  ASSERT_TRUE(entry) << entry.err().message;
  ASSERT_TRUE(s.write(audit_ops(*entry, seq)));
}

std::size_t audit_count(const store& s, const tenant_id& tenant) {
  auto entries = read_audit(s, tenant, timestamp{}, timestamp{days(1'000'000)}, 1'000'000);
  EXPECT_TRUE(entries) << entries.err().message;
  return entries ? entries->size() : 0;
}

TEST_F(store_test, ended_visits_lose_raw_events_after_the_retention_only) {
  stored_visit old_ended{*store_, "visit-old", "t1", at(0)};
  old_ended.start_consultation(at(1));
  old_ended.end(at(100));
  old_ended.deliver_write_backs();
  stored_visit recent_ended{*store_, "visit-recent", "t1", at(0) + days(20)};
  recent_ended.start_consultation(at(1) + days(20));
  recent_ended.end(at(100) + days(20));
  recent_ended.deliver_write_backs();
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

TEST_F(store_test, a_visit_keeps_its_events_while_its_write_back_is_pending) {
  stored_visit visit{*store_, "visit-old", "t1", at(0)};
  visit.start_consultation(at(1));
  visit.end(at(100));
  auto pending = read_outbox(*store_, id<tenant_id>("t1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(pending) << pending.err().message;
  ASSERT_FALSE(pending->items.empty());

  // Due, but its items are rebuilt from its events: they stay.
  auto now = at(0) + days(31);
  auto outcome = apply_retention(*store_, now, {days(30), days(730)});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->visits_purged, 0u);
  EXPECT_EQ(outcome->visits_kept_for_write_back, 1u);
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-old"))->size(), visit.events().size());
  auto again = read_outbox(*store_, id<tenant_id>("t1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->items.size(), pending->items.size());
  for (std::size_t i = 0; i < again->items.size(); ++i)
    EXPECT_EQ(again->items[i].item, pending->items[i].item);

  // Once every item is finished (the end last, taking the cursor), the next pass purges it.
  visit.deliver_write_backs();
  outcome = apply_retention(*store_, now, {days(30), days(730)});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->visits_purged, 1u);
  EXPECT_EQ(outcome->visits_kept_for_write_back, 0u);
  EXPECT_TRUE(read_events(*store_, id<visit_id>("visit-old"))->empty());
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

TEST_F(store_test, audit_entries_expire_per_tenant_at_the_window_edge) {
  const retention_policy policy{days(30), days(730), days(100)};
  const timestamp now{days(1000)};
  const auto cutoff = now - policy.audit_entries;  // entries before it go
  const auto t1 = id<tenant_id>("t1");
  const auto t10 = id<tenant_id>("t10");
  const auto fresh = id<tenant_id>("fresh");
  // Tenants have no tenant record here: like the box, they are found in the audit column.
  put_audit(*store_, t1, cutoff - microseconds{1});  // just outside
  put_audit(*store_, t1, cutoff - microseconds{1}, 1);
  put_audit(*store_, t1, cutoff);  // just inside
  put_audit(*store_, t1, cutoff + days(1));
  put_audit(*store_, t10, timestamp{});  // the oldest possible
  put_audit(*store_, t10, cutoff + microseconds{1});
  put_audit(*store_, box_tenant(), cutoff - days(1));
  put_audit(*store_, fresh, cutoff + days(2));

  auto outcome = apply_retention(*store_, now, policy);
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 3u);  // t1, t10, box; `fresh` had nothing to trim
  EXPECT_EQ(audit_count(*store_, t1), 2u);
  auto kept = read_audit(*store_, t1, timestamp{}, now, 10);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->front().at, cutoff);
  EXPECT_EQ(audit_count(*store_, t10), 1u);
  EXPECT_EQ(audit_count(*store_, box_tenant()), 0u);
  EXPECT_EQ(audit_count(*store_, fresh), 1u);

  // Idempotent: nothing is older than the cutoff any more, so no tenant is trimmed again.
  outcome = apply_retention(*store_, now, policy);
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 0u);
  EXPECT_EQ(audit_count(*store_, t1), 2u);
  EXPECT_EQ(audit_count(*store_, t10), 1u);
  EXPECT_EQ(audit_count(*store_, fresh), 1u);

  // Time moves on by a day: the entry at the old cutoff leaves, the next one stays.
  outcome = apply_retention(*store_, now + days(1), policy);
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 2u);  // t1 and t10
  EXPECT_EQ(audit_count(*store_, t1), 1u);
  EXPECT_EQ(audit_count(*store_, t10), 0u);
}

TEST_F(store_test, audit_retention_defaults_to_seven_years) {
  EXPECT_EQ(retention_policy{}.audit_entries, days(2555));
  const timestamp now{days(20000)};
  put_audit(*store_, id<tenant_id>("t1"), now - days(2555) - microseconds{1});
  put_audit(*store_, id<tenant_id>("t1"), now - days(2554));
  auto outcome = apply_retention(*store_, now, retention_policy{});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 1u);
  EXPECT_EQ(audit_count(*store_, id<tenant_id>("t1")), 1u);
}

TEST_F(store_test, audit_retention_with_an_empty_log_or_a_window_before_1970) {
  auto outcome = apply_retention(*store_, at(0), {});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 0u);
  // A cutoff before 1970 keeps everything (keys hold unsigned time).
  put_audit(*store_, id<tenant_id>("t1"), timestamp{});
  outcome = apply_retention(*store_, timestamp{days(10)}, {days(1), days(1), days(100)});
  ASSERT_TRUE(outcome) << outcome.err().message;
  EXPECT_EQ(outcome->tenants_with_audit, 0u);
  EXPECT_EQ(audit_count(*store_, id<tenant_id>("t1")), 1u);
}

TEST_F(store_test, a_malformed_audit_key_stops_retention_with_an_error) {
  put_audit(*store_, id<tenant_id>("t1"), timestamp{});
  ASSERT_TRUE(store_->put(column::audit, "t2-no-time", "x"));
  auto outcome = apply_retention(*store_, at(0), {});
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.err().code, errc::storage_failure);
  EXPECT_NE(outcome.err().message.find("after tenant t1"), std::string::npos)
    << outcome.err().message;
}

}  // namespace
}  // namespace visitd::storage
