#include "storage/visit_log.hpp"

#include "domain/event_codec.hpp"
#include "storage/journal.hpp"
#include "storage/keys.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace visitd::storage {
namespace {

namespace fs = std::filesystem;
using namespace domain;

using testing::id;
using temp_store = testing::store_test;

std::vector<event_envelope> sample_events() {
  timestamp t{std::chrono::microseconds{1'700'000'000'000'000}};
  auto p = id<participant_id>("pat-1");
  auto d = id<device_id>("dev-1");
  return {
    {1, t, lobby_entered{p}},
    {2, t + std::chrono::seconds(5), admitted{p, std::nullopt}},
    {3, t + std::chrono::seconds(6), connected{p, d}},
    {4, t + std::chrono::seconds(9), lobby_message{id<participant_id>("doc-1"), p, "one moment"}},
    {5, t + std::chrono::seconds(60), disconnected{p, d}},
  };
}

TEST_F(temp_store, events_and_their_outbox_entries_go_in_one_group) {
  auto visit = id<visit_id>("visit-1");
  auto endpoint = id<endpoint_id>("ep-1");
  auto events = sample_events();
  auto ops = event_ops(visit, endpoint, events);
  // 5 events; lobby_entered, connected and disconnected need write-back, the others do not.
  EXPECT_EQ(ops.size(), 5u + 3u);
  ASSERT_TRUE(store_->write(ops));

  auto outbox = store_->get(column::outbox, keys::outbox("ep-1", "visit-1", 3));
  ASSERT_TRUE(outbox);
  EXPECT_EQ(*decode(*outbox), events[2]);
  EXPECT_EQ(store_->get(column::outbox, keys::outbox("ep-1", "visit-1", 2)).err().code,
            errc::not_found);
}

TEST_F(temp_store, read_events_returns_them_in_order_and_resumes_after_a_seq) {
  auto visit = id<visit_id>("visit-1");
  auto events = sample_events();
  auto j = start_journal(*store_);
  // Another visit whose id extends this one's must not leak into its events.
  ASSERT_TRUE(
    j->append_and_wait(event_ops(id<visit_id>("visit-10"), id<endpoint_id>("ep"), events)));
  ASSERT_TRUE(j->append_and_wait(event_ops(visit, id<endpoint_id>("ep"), events)));
  j->stop();

  auto all = read_events(*store_, visit);
  ASSERT_TRUE(all) << all.err().message;
  EXPECT_EQ(*all, events);
  auto tail = read_events(*store_, visit, 3);
  ASSERT_TRUE(tail);
  EXPECT_EQ(*tail, std::vector<event_envelope>(events.begin() + 3, events.end()));
  auto none = read_events(*store_, id<visit_id>("visit-2"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(temp_store, read_events_refuses_gaps_and_undecodable_events) {
  auto visit = id<visit_id>("visit-1");
  auto events = sample_events();
  events.erase(events.begin() + 1);  // seq 1, 3, 4, 5
  ASSERT_TRUE(store_->write(event_ops(visit, id<endpoint_id>("ep"), events)));
  auto gap = read_events(*store_, visit);
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.err().code, errc::storage_failure);
  EXPECT_NE(gap.err().message.find("gap at 2"), std::string::npos) << gap.err().message;

  auto other = id<visit_id>("visit-2");
  ASSERT_TRUE(store_->put(column::events, keys::event("visit-2", 1), "\x01garbage"));
  auto corrupt = read_events(*store_, other);
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.err().message.find("does not decode"), std::string::npos);
}

TEST_F(temp_store, erase_range_removes_exactly_one_visits_events) {
  auto events = sample_events();
  ASSERT_TRUE(store_->write(event_ops(id<visit_id>("visit-1"), id<endpoint_id>("ep"), events)));
  ASSERT_TRUE(store_->write(event_ops(id<visit_id>("visit-10"), id<endpoint_id>("ep"), events)));
  std::vector<write_op> purge{{column::events, keys::event_prefix("visit-1"),
                               keys::event_prefix_end("visit-1"), op_kind::erase_range}};
  ASSERT_TRUE(store_->write(purge));
  EXPECT_TRUE(read_events(*store_, id<visit_id>("visit-1"))->empty());
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-10"))->size(), events.size());
}

}  // namespace
}  // namespace visitd::storage
