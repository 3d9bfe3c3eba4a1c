#include "storage/journal.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace visitd::storage {

domain::result<void> journal::append_and_wait(std::vector<write_op> ops) {
  // A futex-backed atomic wait: no promise/future allocation and no mutex hand-off, which at 64
  // producers on 2 cores was most of the cost of an append. 32 bits, not bool: libstdc++ waits
  // on a 4-byte atomic with a futex on its own address, but on a bool through a proxy shared
  // with other waiters, so one wake-up would rouse unrelated producers.
  struct waiter {
    std::atomic<std::uint32_t> done{0};
    domain::result<void> outcome;
  } w;
  append(std::move(ops), [&w](domain::result<void> r) {
    w.outcome = std::move(r);
    w.done.store(1, std::memory_order_release);
    w.done.notify_one();
  });
  w.done.wait(0, std::memory_order_acquire);
  return std::move(w.outcome);
}

namespace {

std::uint64_t micros(std::chrono::steady_clock::duration d) {
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// One thread commits a batch, then delivers its outcome to every producer in it, then takes the
// queue again. Delivering before the next commit is deliberate: producers (actors,
// completion-driven loops) append their next event from the acknowledgement, so the next batch
// holds all of them instead of splitting them over two half-full fsyncs. (A variant with a
// separate notifier thread overlapping delivery and commit measured slower: 43 instead of 64
// events per commit at 64 producers; see docs/benchmarks.md.) Producers that are threads
// blocking on their acknowledgement come back only after being scheduled, so the committer
// briefly gathers them (journal_options::gather_delay).
class group_commit_journal final : public journal {
public:
  group_commit_journal(store& target, journal_options options)
    : store_(target), options_(options), committer_([this] { commit_loop(); }) {}

  ~group_commit_journal() override { stop(); }

  void append(std::vector<write_op> ops, completion done) override {
    {
      std::lock_guard lock{mutex_};
      if (!stopping_) {
        queue_.push_back({std::move(ops), std::move(done)});
        // Only a waiting committer needs a wake-up (a busy one takes the queue when it is done),
        // and a gathering one only once the queue is as long as it waits for.
        if (committer_waiting_ && queue_.size() >= gather_target_) wake_committer_.notify_one();
        return;
      }
    }
    done(domain::make_error(domain::errc::unavailable, "journal is stopped"));
  }

  void stop() override {
    {
      std::lock_guard lock{mutex_};
      if (stopping_) return;
      stopping_ = true;
      wake_committer_.notify_one();
    }
    // Commits and acknowledges everything queued before the thread ends.
    if (committer_.joinable()) committer_.join();
  }

  stats statistics() const override {
    std::lock_guard lock{mutex_};
    return stats_;
  }

private:
  struct pending {
    std::vector<write_op> ops;
    completion done;
  };

  void commit_loop() {
    std::vector<pending> taken;
    std::vector<write_op> batch;
    for (;;) {
      {
        std::unique_lock lock{mutex_};
        committer_waiting_ = true;
        gather_target_ = 1;
        wake_committer_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.size() < last_groups_ && options_.gather_delay.count() > 0 && !stopping_) {
          gather_target_ = last_groups_;
          auto gathering = std::chrono::steady_clock::now();
          wake_committer_.wait_for(lock, options_.gather_delay,
                                   [this] { return stopping_ || queue_.size() >= gather_target_; });
          stats_.gather_micros += micros(std::chrono::steady_clock::now() - gathering);
        }
        committer_waiting_ = false;
        if (queue_.empty()) return;  // stopping, and everything queued is committed
        // Take as many whole groups as fit the batch bound (always at least one).
        std::size_t ops = 0;
        while (!queue_.empty() &&
               (taken.empty() || ops + queue_.front().ops.size() <= options_.max_ops_per_commit)) {
          ops += queue_.front().ops.size();
          taken.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      for (auto& p : taken)
        for (auto& op : p.ops) batch.push_back(std::move(op));

      // The one sync for the whole group; everyone in it learns the same outcome.
      auto started = std::chrono::steady_clock::now();
      auto outcome = store_.write(batch);
      auto written = std::chrono::steady_clock::now();
      for (auto& p : taken) p.done(outcome);
      auto delivered = std::chrono::steady_clock::now();
      {
        std::lock_guard lock{mutex_};
        stats_.commits++;
        stats_.appends += taken.size();
        if (outcome) stats_.ops += batch.size();
        stats_.write_micros += micros(written - started);
        stats_.deliver_micros += micros(delivered - written);
        last_groups_ = taken.size();
      }
      taken.clear();
      batch.clear();
    }
  }

  store& store_;
  journal_options options_;

  mutable std::mutex mutex_;  // guards everything below but the thread
  std::condition_variable wake_committer_;
  std::deque<pending> queue_;
  bool stopping_ = false;
  bool committer_waiting_ = false;
  std::size_t gather_target_ = 1;  // queue length that wakes a waiting committer
  std::size_t last_groups_ = 0;    // groups in the previous commit
  stats stats_;

  std::thread committer_;  // last: starts after every other member is constructed
};

}  // namespace

std::unique_ptr<journal> start_journal(store& target, journal_options options) {
  return std::make_unique<group_commit_journal>(target, options);
}

}  // namespace visitd::storage
