#include "storage/catalog.hpp"
#include "storage/keys.hpp"
#include "storage/store.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>
#include <rocksdb/perf_level.h>

#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <thread>
#include <utility>

namespace visitd::storage {
namespace {

using testing::temp_dir;

namespace fs = std::filesystem;

TEST(durability, parses_both_modes_and_rejects_others) {
  EXPECT_EQ(*parse_durability("sync"), durability::sync);
  EXPECT_EQ(*parse_durability("relaxed"), durability::relaxed);
  auto bad = parse_durability("fast");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("fast"), std::string::npos);
}

TEST(rocksdb_store, creates_every_column_and_survives_reopen) {
  temp_dir dir;
  {
    auto store = open_rocksdb_store({dir.path(), durability::sync});
    ASSERT_TRUE(store) << store.err().message;
    EXPECT_TRUE((*store)->check());
    for (auto c : all_columns()) {
      auto key = std::string{"k-"} + std::string{column_name(c)};
      ASSERT_TRUE((*store)->put(c, key, column_name(c)));
    }
    ASSERT_TRUE((*store)->close());
    EXPECT_EQ((*store)->get(column::tenants, "k-tenants").err().code, domain::errc::unavailable);
  }
  auto reopened = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_TRUE(reopened) << reopened.err().message;
  for (auto c : all_columns()) {
    auto value = (*reopened)->get(c, std::string{"k-"} + std::string{column_name(c)});
    ASSERT_TRUE(value) << column_name(c);
    EXPECT_EQ(*value, column_name(c));
  }
  EXPECT_EQ((*reopened)->get(column::visits, "absent").err().code, domain::errc::not_found);
}

// RocksDB's perf counters cost ~40 us of a journal commit (storage/rocksdb_store.cpp); every
// thread that reaches the store, the journal's included, runs with them off.
TEST(rocksdb_store, turns_rocksdbs_perf_counters_off_on_the_threads_that_use_it) {
  temp_dir dir;
  auto store = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_TRUE(store) << store.err().message;
  auto& db = **store;
  const std::vector<std::pair<const char*, std::function<void()>>> uses{
    {"write", [&] { EXPECT_TRUE(db.put(column::events, "k", "v")); }},
    {"get", [&] { EXPECT_TRUE(db.get(column::events, "k")); }},
    {"scan",
     [&] { EXPECT_TRUE(db.scan_from(column::events, "", "", [](auto, auto) { return true; })); }},
  };
  for (const auto& use : uses) {
    std::thread user([&use] {
      EXPECT_EQ(rocksdb::GetPerfLevel(), rocksdb::PerfLevel::kEnableCount);  // RocksDB's default
      use.second();
      EXPECT_EQ(rocksdb::GetPerfLevel(), rocksdb::PerfLevel::kDisable) << use.first;
    });
    user.join();
  }
}

TEST(rocksdb_store, refuses_a_store_written_by_a_newer_schema) {
  temp_dir dir;
  {
    auto store = open_rocksdb_store({dir.path(), durability::sync});
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->put(column::meta, "schema_version", std::to_string(schema_version + 1)));
  }
  auto reopened = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.err().code, domain::errc::storage_failure);
  EXPECT_NE(reopened.err().message.find("newer"), std::string::npos);
}

TEST(rocksdb_store, a_version_1_store_is_given_write_back_cursors_at_open) {
  temp_dir dir;
  auto info = domain::make_visit_info(
    domain::visit_id::parse("v-1").value(), domain::tenant_id::parse("t-1").value(),
    domain::endpoint_id::parse("ep-1").value(),
    domain::fhir_reference::parse("Appointment/a1").value(), std::nullopt, std::nullopt,
    domain::timestamp{std::chrono::seconds{1'800'000'000}});
  ASSERT_TRUE(info);
  const auto cursor = keys::outbox("t-1", "ep-1", "v-1", 0);
  {
    auto store = open_rocksdb_store({dir.path(), durability::sync});
    ASSERT_TRUE(store);
    // As version 1 wrote an open visit: its header alone.
    ASSERT_TRUE((*store)->write(std::vector<write_op>{open_visit_ops(*info).front()}));
    ASSERT_TRUE((*store)->put(column::meta, "schema_version", "1"));
    ASSERT_EQ((*store)->get(column::outbox, cursor).err().code, domain::errc::not_found);
  }
  auto reopened = open_rocksdb_store({dir.path(), durability::sync});
  ASSERT_TRUE(reopened) << reopened.err().message;
  EXPECT_EQ(*(*reopened)->get(column::meta, "schema_version"), std::to_string(schema_version));
  EXPECT_TRUE((*reopened)->get(column::outbox, cursor)) << "the open visit has its cursor";
}

TEST(rocksdb_store, column_names_are_unique) {
  std::set<std::string_view> names;
  for (auto c : all_columns()) EXPECT_TRUE(names.insert(column_name(c)).second);
  EXPECT_EQ(names.size(), 11u);
}

}  // namespace
}  // namespace visitd::storage
