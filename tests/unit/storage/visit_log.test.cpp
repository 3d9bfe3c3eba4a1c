#include "storage/visit_log.hpp"

#include "domain/event_codec.hpp"
#include "domain/write_back.hpp"
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

/// A visit of tenant "t-1" at endpoint "ep-1" with an Appointment and a patient registered.
visit_state before_state(const char* visit = "visit-1") {
  auto info = make_visit_info(id<visit_id>(visit), id<tenant_id>("t-1"), id<endpoint_id>("ep-1"),
                              id<fhir_reference>("Appointment/a1"), std::nullopt, std::nullopt,
                              timestamp{std::chrono::seconds{1'700'000'000}});
  return initial_state(*info);
}

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

TEST_F(temp_store, events_and_their_outbox_entries_go_in_one_group) {
  auto events = sample_events();
  auto ops = event_ops(before_state(), events);
  // 6 events; the patient's lobby entry, connect and disconnect are written back, the rest not.
  EXPECT_EQ(ops.size(), 6u + 3u);
  ASSERT_TRUE(store_->write(ops));

  auto outbox = store_->get(column::outbox, keys::outbox("t-1", "ep-1", "visit-1", 4));
  ASSERT_TRUE(outbox);
  auto item = decode_write_back(*outbox);
  ASSERT_TRUE(item) << item.err().message;
  EXPECT_EQ(item->kind, write_back_kind::connected);
  EXPECT_EQ(item->seq, 4u);
  EXPECT_EQ(item->at, events[3].at);
  ASSERT_TRUE(item->participant);
  EXPECT_EQ(item->participant->identity, participant_identity{id<join_id>("j-1")});
  EXPECT_EQ(item->appointment, id<fhir_reference>("Appointment/a1"));
  EXPECT_EQ(store_->get(column::outbox, keys::outbox("t-1", "ep-1", "visit-1", 3)).err().code,
            errc::not_found);
  // Another tenant's endpoint of the same name has an outbox of its own.
  EXPECT_EQ(store_->get(column::outbox, keys::outbox("t-2", "ep-1", "visit-1", 4)).err().code,
            errc::not_found);
}

TEST_F(temp_store, read_events_returns_them_in_order_and_resumes_after_a_seq) {
  auto visit = id<visit_id>("visit-1");
  auto events = sample_events();
  auto j = start_journal(*store_);
  // Another visit whose id extends this one's must not leak into its events.
  ASSERT_TRUE(j->append_and_wait(event_ops(before_state("visit-10"), events)));
  ASSERT_TRUE(j->append_and_wait(event_ops(before_state(), events)));
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
  ASSERT_TRUE(store_->write(event_ops(before_state(), events)));
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
  ASSERT_TRUE(store_->write(event_ops(before_state(), events)));
  ASSERT_TRUE(store_->write(event_ops(before_state("visit-10"), events)));
  std::vector<write_op> purge{{column::events, keys::event_prefix("visit-1"),
                               keys::event_prefix_end("visit-1"), op_kind::erase_range}};
  ASSERT_TRUE(store_->write(purge));
  EXPECT_TRUE(read_events(*store_, id<visit_id>("visit-1"))->empty());
  EXPECT_EQ(read_events(*store_, id<visit_id>("visit-10"))->size(), events.size());
}

}  // namespace
}  // namespace visitd::storage
