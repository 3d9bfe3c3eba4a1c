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
    {1, t, participant_joined{p, participant_role::patient, id<join_id>("j-1")}},
    {2, t, lobby_entered{p}},
    {3, t + std::chrono::seconds(5), admitted{p, std::nullopt}},
    {4, t + std::chrono::seconds(6), connected{p, d}},
    {5, t + std::chrono::seconds(9), lobby_message{id<participant_id>("doc-1"), p, "one moment"}},
    {6, t + std::chrono::seconds(60), disconnected{p, d}},
  };
}

TEST_F(temp_store, an_append_writes_its_events_and_nothing_else) {
  auto events = sample_events();
  auto ops = event_ops(id<visit_id>("visit-1"), events);
  // The write-back items are rebuilt from the events (storage/outbox.hpp), not written too.
  ASSERT_EQ(ops.size(), events.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops[i].c, column::events);
    EXPECT_EQ(ops[i].key, keys::event("visit-1", events[i].seq));
    EXPECT_EQ(decode(ops[i].value).value(), events[i]);
  }
}

TEST_F(temp_store, read_events_returns_them_in_order_and_resumes_after_a_seq) {
  auto visit = id<visit_id>("visit-1");
  auto events = sample_events();
  auto j = start_journal(*store_);
  // Another visit whose id extends this one's must not leak into its events.
  ASSERT_TRUE(j->append_and_wait(event_ops(id<visit_id>("visit-10"), events)));
  ASSERT_TRUE(j->append_and_wait(event_ops(id<visit_id>("visit-1"), events)));
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
  events.erase(events.begin() + 1);  // seq 1, 3, 4, 5, 6
  ASSERT_TRUE(store_->write(event_ops(id<visit_id>("visit-1"), events)));
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
  ASSERT_TRUE(store_->write(event_ops(id<visit_id>("visit-1"), events)));
  ASSERT_TRUE(store_->write(event_ops(id<visit_id>("visit-10"), events)));
  std::vector<write_op> purge{{column::events, keys::event_prefix("visit-1"),
                               keys::event_prefix_end("visit-1"), op_kind::erase_range}};
  ASSERT_TRUE(store_->write(purge));
  EXPECT_TRUE(read_events(*store_, id<visit_id>("visit-1"))->empty());
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-10"))->size(), events.size());
}

}  // namespace
}  // namespace visitd::storage
