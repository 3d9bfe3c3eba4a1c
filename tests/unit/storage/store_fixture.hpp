#pragma once

// Shared by the storage tests: a RocksDB store in a temp dir, id parsing, and a small driver
// that runs domain commands against a visit and writes the resulting events as the server
// will (header and write-back cursor on open, events through the visit log, close ops on the
// end).

#include "domain/visit.hpp"
#include "storage/catalog.hpp"
#include "storage/outbox.hpp"
#include "storage/store.hpp"
#include "storage/visit_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace visitd::storage::testing {

template <class Id>
Id id(std::string_view text) {
  auto parsed = Id::parse(text);
  EXPECT_TRUE(parsed) << text;
  return *parsed;
}

/// A directory under the system temp dir, removed with everything in it at destruction.
class temp_dir {
public:
  explicit temp_dir(std::string_view name = "visitd-test") {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            std::string{name}.append("-").append(std::to_string(rd()));
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] std::string path() const { return path_.string(); }

private:
  std::filesystem::path path_;
};

inline domain::timestamp at(std::int64_t seconds) {
  return domain::timestamp{std::chrono::seconds{1'700'000'000 + seconds}};
}

/// A RocksDB store in a temp dir, reopened on demand (a restart).
class store_test : public ::testing::Test {
protected:
  void SetUp() override { reopen(); }
  void TearDown() override { store_.reset(); }
  void reopen() {
    store_.reset();
    auto s = open_rocksdb_store({dir_.path(), durability::sync});
    ASSERT_TRUE(s) << s.err().message;
    store_ = std::move(*s);
  }
  temp_dir dir_{"visitd-store"};
  std::unique_ptr<store> store_;
};

/// A visit driven by domain commands, persisted the way the server persists it.
class stored_visit {
public:
  stored_visit(store& s, std::string_view visit, std::string_view tenant, domain::timestamp start)
    : store_(s) {
    auto info = domain::make_visit_info(
      id<domain::visit_id>(visit), id<domain::tenant_id>(tenant), id<domain::endpoint_id>("ep-1"),
      id<domain::fhir_reference>("Appointment/a1"), std::nullopt, std::nullopt, start);
    EXPECT_TRUE(info) << info.err().message;
    state_ = domain::initial_state(*info);
    EXPECT_TRUE(store_.write(open_visit_ops(*info)));
  }

  void run(const domain::command& c, domain::timestamp now) {
    auto events = domain::decide(state_, c, now, domain::visit_policy{});
    ASSERT_TRUE(events) << events.err().message;
    auto ops = event_ops(state_.info.id, *events);
    for (const auto& e : *events) {
      domain::apply(state_, e);
      all_.push_back(e);
    }
    if (state_.status == domain::visit_status::ended) {
      auto close = close_visit_ops(state_.info, all_, now);
      ops.insert(ops.end(), close.begin(), close.end());
    }
    ASSERT_TRUE(store_.write(ops));
  }

  /// Provider and patient join, patient admitted: a visit in progress.
  void start_consultation(domain::timestamp t) {
    run(domain::cmd::join{id<domain::participant_id>("doc"), id<domain::device_id>("d1"),
                          domain::participant_role::provider,
                          id<domain::ehr_user_id>("Practitioner/7")},
        t);
    run(domain::cmd::join{id<domain::participant_id>("pat"), id<domain::device_id>("d2"),
                          domain::participant_role::patient, id<domain::join_id>("j-1")},
        t + std::chrono::seconds(10));
    run(domain::cmd::admit{id<domain::participant_id>("doc"), id<domain::participant_id>("pat")},
        t + std::chrono::seconds(60));
  }

  void end(domain::timestamp t) { run(domain::cmd::end{id<domain::participant_id>("doc")}, t); }

  /// Finishes the visit's pending write-backs as their delivery would (the cursor moves, and
  /// goes with the end).
  void deliver_write_backs() {
    auto page = read_outbox(store_, state_.info.tenant, state_.info.endpoint, {}, 100'000);
    ASSERT_TRUE(page) << page.err().message;
    for (const auto& p : page->items) {
      if (p.item.visit != state_.info.id) continue;
      ASSERT_TRUE(store_.write(std::vector<write_op>{delivered_op(p)}));
    }
  }

  [[nodiscard]] const domain::visit_state& state() const { return state_; }
  [[nodiscard]] const std::vector<domain::event_envelope>& events() const { return all_; }

private:
  store& store_;
  domain::visit_state state_;
  std::vector<domain::event_envelope> all_;
};

}  // namespace visitd::storage::testing
