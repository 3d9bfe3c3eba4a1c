#include "storage/outbox.hpp"

#include "storage/keys.hpp"
#include "storage/visit_log.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>

namespace visitd::storage {
namespace {

using namespace domain;
using testing::at;
using testing::id;
using outbox_store = testing::store_test;

/// A visit of `tenant` at `endpoint` where a patient joins and leaves: events with 2 items.
std::vector<write_op> visit_ops(const char* tenant, const char* endpoint, const char* visit) {
  auto info =
    make_visit_info(id<visit_id>(visit), id<tenant_id>(tenant), id<endpoint_id>(endpoint),
                    id<fhir_reference>("Appointment/a1"), std::nullopt, std::nullopt, at(0));
  auto p = id<participant_id>("pat");
  auto d = id<device_id>("dev");
  std::vector<event_envelope> events{
    {1, at(1), participant_joined{p, participant_role::patient, id<join_id>("j-1")}},
    {2, at(1), lobby_entered{p}},
    {3, at(2), connected{p, d}},
    {4, at(3), disconnected{p, d}},
  };
  return event_ops(initial_state(*info), events);
}

TEST_F(outbox_store, lists_endpoints_with_entries_and_reads_one_endpoints_in_order) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-2")));
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep-2", "v-3")));
  ASSERT_TRUE(store_->write(visit_ops("t-10", "ep", "v-4")));

  auto endpoints = outbox_endpoints(*store_);
  ASSERT_TRUE(endpoints) << endpoints.err().message;
  std::vector<endpoint_ref> expected{{id<tenant_id>("t-1"), id<endpoint_id>("ep")},
                                     {id<tenant_id>("t-1"), id<endpoint_id>("ep-2")},
                                     {id<tenant_id>("t-10"), id<endpoint_id>("ep")}};
  EXPECT_EQ(*endpoints, expected);

  // Paged: 2 at a time, by visit then seq, never another endpoint's or tenant's.
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  std::string after;
  int pages = 0;
  do {
    auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), after, 2);
    ASSERT_TRUE(page) << page.err().message;
    EXPECT_TRUE(page->undecodable.empty());
    for (const auto& item : page->items) seen.emplace_back(item.visit.str(), item.seq);
    after = page->next_after;
    ASSERT_LT(++pages, 10);
  } while (!after.empty());
  std::vector<std::pair<std::string, std::uint64_t>> want{{"v-1", 2}, {"v-1", 3}, {"v-1", 4},
                                                          {"v-2", 2}, {"v-2", 3}, {"v-2", 4}};
  EXPECT_EQ(seen, want);
}

TEST_F(outbox_store, delivered_dead_lettered_and_redriven_entries_move_atomically) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  const auto first = page->items[0];
  const auto second = page->items[1];

  const std::vector<write_op> delivered{delivered_op(first)};
  ASSERT_TRUE(store_->write(delivered));
  dead_letter letter{second, "POST AuditEvent: HTTP 400: bad", 1, at(9)};
  ASSERT_TRUE(store_->write(dead_letter_ops(letter)));

  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_EQ(page->items.size(), 1u);
  auto letters = read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 100);
  ASSERT_TRUE(letters) << letters.err().message;
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ(letters->front(), letter);
  EXPECT_EQ(*count_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep")), 1u);
  EXPECT_TRUE(
    read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep-2"), 100)->empty());

  reopen();  // everything above is durable
  ASSERT_TRUE(store_->write(
    redrive_ops(*read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 100))));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0], second);
  EXPECT_TRUE(
    read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 100)->empty());
}

TEST_F(outbox_store, dead_letters_are_read_in_pages_by_key) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  for (const auto& item : page->items)
    ASSERT_TRUE(store_->write(dead_letter_ops({item, "HTTP 422", 1, at(9)})));
  auto first = read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ(first->at(0).item, page->items[0]);
  EXPECT_EQ(first->at(1).item, page->items[1]);
  auto rest = read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2,
                                outbox_key(first->back().item));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().item, page->items[2]);
  EXPECT_TRUE(read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2,
                                outbox_key(rest->back().item))
                ->empty());
}

TEST_F(outbox_store, reports_undecodable_entries_without_stopping) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  ASSERT_TRUE(store_->put(column::outbox, keys::outbox("t-1", "ep", "v-0", 1), "\x01junk"));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->undecodable.size(), 1u);
  EXPECT_EQ(page->items.size(), 3u);
}

TEST(outbox_keys, parse_back_what_they_make) {
  auto key = keys::outbox("t-1", "ep", "v-1", 42);
  auto parts = keys::parse_outbox(key);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->tenant, "t-1");
  EXPECT_EQ(parts->endpoint, "ep");
  EXPECT_EQ(parts->visit, "v-1");
  EXPECT_EQ(parts->seq, 42u);
  EXPECT_FALSE(keys::parse_outbox(keys::event("v-1", 1)));
  EXPECT_FALSE(keys::parse_outbox("short"));
}

}  // namespace
}  // namespace visitd::storage
