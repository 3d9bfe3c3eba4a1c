#include "actors/expiry_scheduler.hpp"

#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace visitd::actors {
namespace {

using namespace std::chrono_literals;
using storage::testing::at;

/// Who was told which deadline, in order.
using due_log = std::vector<std::pair<int, domain::timestamp>>;

caf::behavior recording_visit(caf::event_based_actor*, int name,
                              const std::shared_ptr<due_log>& log) {
  return {
    [name, log](expiry_due_atom, domain::timestamp deadline) { log->emplace_back(name, deadline); },
  };
}

class expiry_scheduler_test : public ::testing::Test {
protected:
  expiry_scheduler_test() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    sys_.emplace(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    scheduler_ = spawn_expiry_scheduler(*sys_, [this] { return now_; });
  }

  ~expiry_scheduler_test() override {
    caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
    for (auto& v : visits_) caf::anon_send_exit(v, caf::exit_reason::user_shutdown);
    sched_->run();
    sys_->await_actors_before_shutdown(false);
    sys_.reset();
  }

  caf::actor visit(int name) {
    auto v = sys_->spawn(recording_visit, name, log_);
    visits_.push_back(v);
    return v;
  }

  void arm(const caf::actor& v, domain::timestamp deadline) {
    caf::anon_send(scheduler_, expiry_arm_atom::value, v.address(), deadline);
    sched_->run();
  }

  /// Moves CAF's clock and the domain clock together.
  void advance(caf::timespan d) {
    now_ += std::chrono::duration_cast<domain::duration>(d);
    sched_->advance_time(d);
    sched_->run();
  }

  caf::actor_system_config cfg_;
  std::optional<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  domain::timestamp now_ = at(0);
  expiry_scheduler scheduler_;
  std::vector<caf::actor> visits_;
  std::shared_ptr<due_log> log_ = std::make_shared<due_log>();
};

TEST_F(expiry_scheduler_test, tells_each_visit_when_its_deadline_has_passed_in_deadline_order) {
  auto a = visit(1);
  auto b = visit(2);
  auto c = visit(3);
  arm(a, at(30));
  arm(b, at(10));
  arm(c, at(20));

  advance(9s);
  EXPECT_TRUE(log_->empty()) << "told before any deadline";
  advance(2s);
  ASSERT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->at(0), std::make_pair(2, at(10)));
  advance(20s);
  ASSERT_EQ(log_->size(), 3u);
  EXPECT_EQ(log_->at(1), std::make_pair(3, at(20)));
  EXPECT_EQ(log_->at(2), std::make_pair(1, at(30)));
}

TEST_F(expiry_scheduler_test, an_earlier_deadline_armed_later_is_not_held_back) {
  auto a = visit(1);
  auto b = visit(2);
  arm(a, at(60));
  advance(5s);
  arm(b, at(10));  // earlier than the one tick outstanding
  advance(6s);
  ASSERT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->at(0), std::make_pair(2, at(10)));
  advance(50s);
  ASSERT_EQ(log_->size(), 2u);
  EXPECT_EQ(log_->at(1), std::make_pair(1, at(60)));
}

TEST_F(expiry_scheduler_test, a_visit_that_stopped_is_skipped) {
  auto gone = visit(1);
  auto stays = visit(2);
  arm(gone, at(10));
  arm(stays, at(10));
  caf::anon_send_exit(gone, caf::exit_reason::user_shutdown);
  visits_.erase(visits_.begin());
  gone = nullptr;
  sched_->run();
  advance(11s);
  ASSERT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->at(0).first, 2);
}

}  // namespace
}  // namespace visitd::actors
