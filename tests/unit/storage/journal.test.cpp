#include "storage/journal.hpp"

#include "store_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

namespace visitd::storage {
namespace {

using testing::temp_dir;

namespace fs = std::filesystem;

// Records each committed batch; can be told to fail.
class recording_store final : public store {
public:
  domain::result<std::string> get(column, std::string_view) const override {
    return domain::make_error(domain::errc::not_found, "recording store");
  }
  domain::result<void> write(std::span<const write_op> ops) override {
    ++writes_entered;
    std::lock_guard hold{gate};
    std::lock_guard lock{mutex_};
    if (fail) return domain::make_error(domain::errc::storage_failure, "disk full");
    batch_sizes.push_back(ops.size());
    for (const auto& op : ops) keys.push_back(op.key);
    return {};
  }
  domain::result<void> scan_from(column, std::string_view, std::string_view,
                                 const scan_visitor&) const override {
    return {};
  }
  domain::result<void> check() const override { return {}; }
  domain::result<void> close() override { return {}; }

  std::mutex mutex_;
  std::mutex gate;  ///< Held by a test: writes wait for it.
  std::atomic<int> writes_entered{0};
  std::atomic<bool> fail{false};
  std::vector<std::size_t> batch_sizes;
  std::vector<std::string> keys;
};

std::vector<write_op> group(std::string key, std::string value = "v") {
  std::vector<write_op> ops;
  ops.push_back({column::events, key, value});
  ops.push_back({column::outbox, key, value});
  return ops;
}

TEST(journal, acknowledged_groups_are_readable_from_the_store) {
  temp_dir dir;
  auto s = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_TRUE(s);
  auto j = start_journal(**s);
  ASSERT_TRUE(j->append_and_wait(group("visit-1/1", "lobby_entered")));
  EXPECT_EQ(*(*s)->get(column::events, "visit-1/1"), "lobby_entered");
  EXPECT_EQ(*(*s)->get(column::outbox, "visit-1/1"), "lobby_entered");
  j->stop();
}

TEST(journal, concurrent_producers_share_commits_and_all_are_durable) {
  temp_dir dir;
  auto s = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_TRUE(s);
  auto j = start_journal(**s);
  constexpr int producers = 16;
  constexpr int appends_each = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < appends_each; ++i)
        // Built with append: GCC 12 warns falsely on "lit" + std::string at -O3 (bug 105651).
        if (!j->append_and_wait(group(
              std::string{"p"}.append(std::to_string(p)).append("/").append(std::to_string(i)))))
          ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  auto stats = j->statistics();
  EXPECT_EQ(stats.appends, std::uint64_t{producers * appends_each});
  EXPECT_EQ(stats.ops, std::uint64_t{2 * producers * appends_each});
  // Group commit: with 16 producers waiting on fsync, commits must be shared.
  EXPECT_LT(stats.commits, stats.appends / 2) << "commits=" << stats.commits;
  int found = 0;
  ASSERT_TRUE((*s)->scan(column::events, "p", [&](std::string_view, std::string_view) {
    ++found;
    return true;
  }));
  EXPECT_EQ(found, producers * appends_each);
}

TEST(journal, appends_from_one_thread_commit_in_order) {
  recording_store s;
  auto j = start_journal(s);
  std::atomic<int> acked{0};
  for (int i = 0; i < 1000; ++i)
    j->append({{column::events, std::to_string(i), "v"}}, [&](domain::result<void> r) {
      EXPECT_TRUE(r);
      ++acked;
    });
  j->stop();  // commits everything queued first
  EXPECT_EQ(acked, 1000);
  ASSERT_EQ(s.keys.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(s.keys[i], std::to_string(i));
}

TEST(journal, a_failed_commit_fails_every_group_in_it_and_nothing_else) {
  recording_store s;
  auto j = start_journal(s);
  s.fail = true;
  auto failed = j->append_and_wait(group("a"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.err().code, domain::errc::storage_failure);
  s.fail = false;
  EXPECT_TRUE(j->append_and_wait(group("b")));
  EXPECT_EQ(s.keys, (std::vector<std::string>{"b", "b"}));
}

TEST(journal, batches_respect_the_op_bound_without_splitting_a_group) {
  recording_store s;
  auto j = start_journal(s, {.max_ops_per_commit = 5});
  std::atomic<int> acked{0};
  for (int i = 0; i < 100; ++i)
    j->append(group(std::to_string(i)), [&](domain::result<void>) { ++acked; });
  j->stop();
  EXPECT_EQ(acked, 100);
  for (auto size : s.batch_sizes) {
    EXPECT_LE(size, 5u);
    EXPECT_EQ(size % 2, 0u) << "a group of 2 was split";
  }
}

TEST(journal, fewer_groups_than_the_last_commit_are_gathered_for_and_the_wait_is_counted) {
  recording_store s;
  auto j = start_journal(s, {.gather_delay = std::chrono::milliseconds(50)});
  std::atomic<int> acked{0};
  auto count = [&](domain::result<void>) { ++acked; };
  {
    std::unique_lock gate{s.gate};
    j->append(group("a"), count);
    while (s.writes_entered.load() == 0) std::this_thread::yield();
    for (const char* key : {"b", "c", "d"}) j->append(group(key), count);
  }
  // Committed as {a}, then {b, c, d} at once: neither waited.
  while (acked.load() < 4) std::this_thread::yield();
  ASSERT_EQ(s.batch_sizes, (std::vector<std::size_t>{2, 6}));
  EXPECT_EQ(j->statistics().gather_micros, 0u);

  // One group is fewer than the last commit took: the committer waits for the other two, which
  // never come, for the whole gather delay, then commits the one.
  EXPECT_TRUE(j->append_and_wait(group("e")));
  EXPECT_EQ(s.batch_sizes.back(), 2u);
  EXPECT_GE(j->statistics().gather_micros, 45'000u);
  j->stop();
}

TEST(journal, stopped_journal_refuses_appends) {
  recording_store s;
  auto j = start_journal(s);
  j->stop();
  j->stop();
  auto r = j->append_and_wait(group("late"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, domain::errc::unavailable);
}

}  // namespace
}  // namespace visitd::storage
