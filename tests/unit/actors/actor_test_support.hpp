#pragma once

// Test doubles shared by the actor tests: a journal completed by hand, a requester that records
// the outcome, and a subscriber that records (and acknowledges) what a visit actor sends it.

#include "actors/messages.hpp"
#include "actors/visit_actor.hpp"
#include "storage/journal.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace visitd::actors::testing {

// -- test doubles and helpers ------------------------------------------------------------------

/// A journal that records appends and completes them only when the test says so, in order.
/// With `target` set, a successful completion first writes the group to it (like the real one).
class fake_journal final : public storage::journal {
public:
  struct pending {
    std::vector<storage::write_op> ops;
    completion done;
  };

  void append(std::vector<storage::write_op> ops, completion done) override {
    queue.push_back({std::move(ops), std::move(done)});
  }
  void stop() override {}
  stats statistics() const override { return {}; }

  /// Completes the oldest append with `outcome` (OK by default).
  void complete(domain::result<void> outcome = {}) {
    ASSERT_FALSE(queue.empty()) << "no append to complete";
    auto p = std::move(queue.front());
    queue.pop_front();
    if (outcome && target != nullptr) outcome = target->write(p.ops);
    p.done(std::move(outcome));
  }

  std::deque<pending> queue;
  storage::store* target = nullptr;
};

/// What a request came back with.
template <class Reply>
struct outcome {
  std::optional<Reply> reply;
  std::optional<domain::error> error;
  [[nodiscard]] bool done() const { return reply.has_value() || error.has_value(); }
};

template <class Reply, class Handle, class... Ts>
void asker(caf::event_based_actor* self, const Handle& target,
           const std::shared_ptr<outcome<Reply>>& out, caf::timespan timeout, const Ts&... xs) {
  self->request(target, timeout, xs...)
    .then([out](Reply& r) { out->reply = std::move(r); },
          [out](caf::error& err) { out->error = to_domain_error(err); });
}

/// Everything a subscriber received, in order. Locked: the multi-threaded test reads it from the
/// test thread while the subscriber runs on a CAF worker.
struct subscriber_log {
  mutable std::mutex mutex;
  std::vector<domain::visit_state> snapshots;
  std::vector<domain::event_envelope> events;
  std::vector<subscriber_dropped> dropped;
  std::size_t messages = 0;
  bool gap_or_duplicate = false;
  std::uint64_t last_seq = 0;  ///< Last seq seen (snapshot or event).
  bool auto_ack = true;

  [[nodiscard]] std::vector<std::uint64_t> seqs() const {
    std::lock_guard lock{mutex};
    std::vector<std::uint64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
  }
  [[nodiscard]] std::uint64_t seen() const {
    std::lock_guard lock{mutex};
    return last_seq;
  }
};

/// A subscriber that records what it is sent and (when `auto_ack`) acknowledges each message.
/// Acknowledgements go to whoever sent the message (the visit actor serving the visit).
inline visit_subscriber::behavior_type recording_subscriber(
  visit_subscriber::pointer self, const std::shared_ptr<subscriber_log>& log) {
  auto ack = [self, log](std::uint64_t seq) {
    if (log->auto_ack)
      self->send(caf::actor_cast<visit_actor>(self->current_sender()), subscriber_ack_atom::value,
                 caf::actor_cast<visit_subscriber>(self), seq);
  };
  return {
    [log, ack](snapshot_atom, domain::visit_state& s) {
      std::uint64_t seq = 0;
      {
        std::lock_guard lock{log->mutex};
        ++log->messages;
        log->last_seq = seq = s.last_seq;
        log->snapshots.push_back(std::move(s));
      }
      ack(seq);
    },
    [log, ack](events_atom, visit_events& batch) {
      std::uint64_t seq = 0;
      {
        std::lock_guard lock{log->mutex};
        ++log->messages;
        for (auto& e : batch.events) {
          if (e.seq != log->last_seq + 1) log->gap_or_duplicate = true;
          log->last_seq = e.seq;
          log->events.push_back(std::move(e));
        }
        seq = log->last_seq;
      }
      ack(seq);
    },
    [log](subscriber_dropped_atom, subscriber_dropped& d) {
      std::lock_guard lock{log->mutex};
      ++log->messages;
      log->dropped.push_back(std::move(d));
    },
  };
}

/// A real, threaded actor system over a RocksDB store in a temp dir and its group-commit
/// journal, for protocol tests that need real timing rather than the test coordinator.
class live_actor_test : public ::testing::Test {
protected:
  explicit live_actor_test(std::string_view dir_name) : dir_(dir_name), system_(config()) {
    auto s = storage::open_rocksdb_store({dir_.path(), storage::durability::sync});
    EXPECT_TRUE(s);
    store_ = std::move(*s);
    journal_ = storage::start_journal(*store_);
  }
  ~live_actor_test() override {
    system_.registry().await_running_count_equal(0);
    journal_->stop();
    store_.reset();
  }

  /// Sends `xs` to `dest` and waits (at most 10 s) for the reply: the value, or the domain error.
  template <class T, class Handle, class... Ts>
  domain::result<T> ask(const Handle& dest, Ts&&... xs) {
    caf::scoped_actor self{system_};
    std::optional<domain::result<T>> out;
    self->request(dest, std::chrono::seconds{10}, std::forward<Ts>(xs)...)
      .receive([&](T& value) { out.emplace(std::move(value)); },
               [&](caf::error& err) { out.emplace(to_domain_error(err)); });
    return std::move(*out);
  }

  storage::testing::temp_dir dir_;
  caf::actor_system system_;
  std::unique_ptr<storage::store> store_;
  std::unique_ptr<storage::journal> journal_;

private:
  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);
    return cfg;
  }
};

/// CAF's test coordinator over a real RocksDB store in a temp dir, with a `fake_journal` the
/// test completes by hand (each group written to the store, as the real journal does). A
/// subclass sends its actors an exit in its destructor; this one then runs them down.
class coordinator_test : public ::testing::Test {
protected:
  explicit coordinator_test(std::string_view dir_name) : dir_(dir_name) {
    auto opened = storage::open_rocksdb_store({dir_.path(), storage::durability::relaxed});
    EXPECT_TRUE(opened) << opened.err().message;
    store_ = std::move(*opened);
    journal_.target = store_.get();
    cfg_.set("scheduler.policy", caf::atom("testing"));
    sys_.emplace(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  }

  ~coordinator_test() override {
    sched_->run();
    journal_.queue.clear();
    sys_->await_actors_before_shutdown(false);
    sys_.reset();
  }

  /// Runs until the journal has no append waiting, completing each one.
  void settle() {
    sched_->run();
    while (!journal_.queue.empty()) {
      journal_.complete();
      sched_->run();
    }
  }

  storage::testing::temp_dir dir_;
  std::unique_ptr<storage::store> store_;
  fake_journal journal_;
  caf::actor_system_config cfg_;
  std::optional<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
};

}  // namespace visitd::actors::testing
