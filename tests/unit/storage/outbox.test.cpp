#include "storage/outbox.hpp"

#include "storage/catalog.hpp"
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

visit_info info_of(const char* tenant, const char* endpoint, const char* visit) {
  return *make_visit_info(id<visit_id>(visit), id<tenant_id>(tenant), id<endpoint_id>(endpoint),
                          id<fhir_reference>("Appointment/a1"), std::nullopt, std::nullopt, at(0));
}

/// A patient joins and leaves: events 1-4, with items at 2 (lobby), 3 (connected) and 4
/// (disconnected).
std::vector<event_envelope> join_and_leave() {
  auto p = id<participant_id>("pat");
  auto d = id<device_id>("dev");
  return {
    {1, at(1), participant_joined{p, participant_role::patient, id<join_id>("j-1")}},
    {2, at(1), lobby_entered{p}},
    {3, at(2), connected{p, d}},
    {4, at(3), disconnected{p, d}},
  };
}

/// The visit opened (header and cursor) and its events appended, as the server writes them.
std::vector<write_op> visit_ops(const char* tenant, const char* endpoint, const char* visit) {
  auto info = info_of(tenant, endpoint, visit);
  auto ops = open_visit_ops(info);
  for (auto& op : event_ops(info.id, join_and_leave())) ops.push_back(std::move(op));
  return ops;
}

std::vector<std::uint64_t> seqs(const outbox_page& page) {
  std::vector<std::uint64_t> out;
  for (const auto& p : page.items) out.push_back(p.item.seq);
  return out;
}

TEST_F(outbox_store, lists_endpoints_with_visits_and_reads_one_endpoints_items_in_order) {
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

  // One key (a cursor) per page: by visit then seq, never another endpoint's or tenant's, each
  // item rebuilt exactly as the append computed it.
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  std::string after;
  int pages = 0;
  do {
    auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), after, 1);
    ASSERT_TRUE(page) << page.err().message;
    EXPECT_TRUE(page->problems.empty());
    for (const auto& p : page->items) {
      seen.emplace_back(p.item.visit.str(), p.item.seq);
      EXPECT_EQ(p.source, outbox_source::cursor);
    }
    after = page->next_after;
    ASSERT_LT(++pages, 10);
  } while (!after.empty());
  std::vector<std::pair<std::string, std::uint64_t>> want{{"v-1", 2}, {"v-1", 3}, {"v-1", 4},
                                                          {"v-2", 2}, {"v-2", 3}, {"v-2", 4}};
  EXPECT_EQ(seen, want);

  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  auto info = info_of("t-1", "ep", "v-1");
  auto appended = write_back_items(initial_state(info), join_and_leave());
  ASSERT_EQ(appended.size(), 3u);
  for (std::size_t i = 0; i < appended.size(); ++i) EXPECT_EQ(page->items[i].item, appended[i]);
}

TEST_F(outbox_store, delivered_dead_lettered_and_redriven_items_move_atomically) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  ASSERT_EQ(seqs(*page), (std::vector<std::uint64_t>{2, 3, 4}));
  const auto first = page->items[0];
  const auto second = page->items[1];

  const std::vector<write_op> delivered{delivered_op(first)};
  ASSERT_TRUE(store_->write(delivered));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  EXPECT_EQ(seqs(*page), (std::vector<std::uint64_t>{3, 4})) << "the cursor moved past 2";

  dead_letter letter{second.item, "POST AuditEvent: HTTP 400: bad", 1, at(9)};
  ASSERT_TRUE(store_->write(dead_letter_ops(letter, second.source)));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  EXPECT_EQ(seqs(*page), (std::vector<std::uint64_t>{4}));
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
  ASSERT_EQ(seqs(*page), (std::vector<std::uint64_t>{3, 4})) << "in seq order, entry first";
  EXPECT_EQ(page->items[0].item, second.item);
  EXPECT_EQ(page->items[0].source, outbox_source::entry);
  EXPECT_EQ(page->items[1].source, outbox_source::cursor);
  EXPECT_TRUE(
    read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 100)->empty());

  // The re-driven entry goes when delivered, leaving the cursor where it was.
  ASSERT_TRUE(store_->write(std::vector<write_op>{delivered_op(page->items[0])}));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  EXPECT_EQ(seqs(*page), (std::vector<std::uint64_t>{4}));
}

TEST_F(outbox_store, the_end_of_a_visit_takes_its_cursor_with_it) {
  testing::stored_visit visit{*store_, "v-1", "t-1", at(0)};
  visit.start_consultation(at(1));
  visit.end(at(100));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(page);
  ASSERT_FALSE(page->items.empty());
  EXPECT_EQ(page->items.back().item.kind, write_back_kind::visit_ended);
  for (const auto& p : page->items)
    ASSERT_TRUE(store_->write(std::vector<write_op>{delivered_op(p)}));
  EXPECT_EQ(store_->get(column::outbox, keys::outbox("t-1", "ep-1", "v-1", 0)).err().code,
            errc::not_found);
  auto endpoints = outbox_endpoints(*store_);
  ASSERT_TRUE(endpoints);
  EXPECT_TRUE(endpoints->empty()) << "nothing is left of the visit in the outbox";
}

TEST_F(outbox_store, dead_letters_are_read_in_pages_by_key) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  for (const auto& p : page->items)
    ASSERT_TRUE(store_->write(dead_letter_ops({p.item, "HTTP 422", 1, at(9)}, p.source)));
  auto first = read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ(first->at(0).item, page->items[0].item);
  EXPECT_EQ(first->at(1).item, page->items[1].item);
  auto rest = read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2,
                                outbox_key(first->back().item));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().item, page->items[2].item);
  EXPECT_TRUE(read_dead_letters(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), 2,
                                outbox_key(rest->back().item))
                ->empty());
}

TEST_F(outbox_store, reports_what_it_cannot_read_without_stopping) {
  ASSERT_TRUE(store_->write(visit_ops("t-1", "ep", "v-1")));
  ASSERT_TRUE(store_->put(column::outbox, keys::outbox("t-1", "ep", "v-0", 1), "\x01junk"));
  ASSERT_TRUE(store_->put(column::outbox, keys::outbox("t-1", "ep", "v-00", 0), "junk"));
  // A cursor whose visit has no header.
  ASSERT_TRUE(store_->write(std::vector<write_op>{open_cursor_op(info_of("t-1", "ep", "v-9"))}));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->problems.size(), 3u);
  EXPECT_EQ(page->items.size(), 3u);
  EXPECT_TRUE(page->spent_cursors.empty());
}

TEST_F(outbox_store, a_cursor_back_after_the_visits_end_is_spent) {
  testing::stored_visit visit{*store_, "v-1", "t-1", at(0)};
  visit.start_consultation(at(1));
  visit.end(at(100));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(page);
  const auto items = page->items;
  visit.deliver_write_backs();
  // A restarted endpoint actor delivers an item again, after the end took the cursor.
  ASSERT_TRUE(store_->write(std::vector<write_op>{delivered_op(items.front())}));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(page);
  // Its end is behind the cursor again, so it is rebuilt and delivered once more, which takes it.
  ASSERT_FALSE(page->items.empty());
  EXPECT_EQ(page->items.back().item.kind, write_back_kind::visit_ended);
  EXPECT_TRUE(page->spent_cursors.empty());
  // With nothing behind it, the cursor of an ended visit is spent: a cursor at the end's seq.
  auto at_the_end = items.back();
  at_the_end.item.kind = write_back_kind::disconnected;  // moves the cursor, does not erase it
  ASSERT_TRUE(store_->write(std::vector<write_op>{delivered_op(at_the_end)}));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep-1"), {}, 100);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->items.empty());
  ASSERT_EQ(page->spent_cursors.size(), 1u);
  ASSERT_TRUE(store_->write(std::vector<write_op>{spent_cursor_op(page->spent_cursors.front())}));
  auto endpoints = outbox_endpoints(*store_);
  ASSERT_TRUE(endpoints);
  EXPECT_TRUE(endpoints->empty());
}

TEST_F(outbox_store, open_visits_of_a_version_1_store_get_cursors_at_their_last_event) {
  // Version 1: a header without a cursor, and outbox entries for the items so far.
  auto info = info_of("t-1", "ep", "v-1");
  auto events = join_and_leave();
  std::vector<write_op> v1{open_visit_ops(info).front()};
  for (auto& op : event_ops(info.id, events)) v1.push_back(std::move(op));
  for (const auto& item : write_back_items(initial_state(info), events))
    v1.push_back({column::outbox, outbox_key(item), encode(item)});
  auto ended = info_of("t-1", "ep", "v-2");
  v1.push_back({column::visits, keys::visit("v-2"), encode_header({ended, at(4), false})});
  ASSERT_TRUE(store_->write(v1));

  auto ops = missing_cursor_ops(*store_);
  ASSERT_TRUE(ops) << ops.err().message;
  ASSERT_EQ(ops->size(), 1u) << "only the open visit";
  ASSERT_TRUE(store_->write(*ops));
  auto page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  ASSERT_TRUE(page);
  EXPECT_EQ(seqs(*page), (std::vector<std::uint64_t>{2, 3, 4})) << "the entries, once each";
  for (const auto& p : page->items) EXPECT_EQ(p.source, outbox_source::entry);

  // The next append's items come from the cursor.
  std::vector<event_envelope> more{
    {5, at(5), connected{id<participant_id>("pat"), id<device_id>("dev")}}};
  ASSERT_TRUE(store_->write(event_ops(info.id, more)));
  page = read_outbox(*store_, id<tenant_id>("t-1"), id<endpoint_id>("ep"), {}, 100);
  EXPECT_EQ(seqs(*page), (std::vector<std::uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(page->items.back().source, outbox_source::cursor);
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
