#pragma once

// The single path for durable writes: many producers (actors, threads) append groups of writes;
// one journal thread commits everything queued as ONE atomic store write per sync (group
// commit), then acknowledges each producer. Throughput grows with the number of concurrent
// producers instead of being capped at one fsync per write.

#include "domain/error.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace visitd::storage {

struct journal_options {
  /// Upper bound of ops in one commit; a longer queue is committed in several batches, in order.
  std::size_t max_ops_per_commit = 8192;
  /// When fewer groups are queued than the previous commit acknowledged, wait up to this long
  /// for those producers to append again before committing (they were just woken and usually
  /// come straight back), so one fsync carries them all. Adds at most this much latency to a
  /// commit; zero disables it. Completion-driven producers (actors) append again while their
  /// acknowledgement is delivered and never trigger the wait.
  std::chrono::microseconds gather_delay{200};
};

class journal {
public:
  using completion = std::function<void(domain::result<void>)>;

  struct stats {
    std::uint64_t commits = 0;         ///< Store writes (one fsync each in sync mode).
    std::uint64_t appends = 0;         ///< Producer groups acknowledged (OK or failed).
    std::uint64_t ops = 0;             ///< Individual writes committed.
    std::uint64_t gather_micros = 0;   ///< Time spent waiting for more groups before commits.
    std::uint64_t write_micros = 0;    ///< Time spent in store writes (including fsync).
    std::uint64_t deliver_micros = 0;  ///< Time spent running completions.
  };

  virtual ~journal() = default;

  /// Queues `ops`, to be written atomically with each other (and with other producers' groups in
  /// the same commit). `done` runs exactly once on the journal thread: OK once the group is
  /// durable, or the store's error (then none of the group was written). Appends from one
  /// thread are committed in the order made. Never waits for I/O; takes a short lock only.
  /// After stop(), fails at once with unavailable.
  virtual void append(std::vector<write_op> ops, completion done) = 0;

  /// append() and wait for the outcome: for tools, tests and benchmarks, never for actors.
  [[nodiscard]] domain::result<void> append_and_wait(std::vector<write_op> ops);

  /// Commits everything already queued, then stops the journal thread. Idempotent.
  virtual void stop() = 0;

  [[nodiscard]] virtual stats statistics() const = 0;
};

/// Starts the journal thread over `store`, which must outlive the journal.
[[nodiscard]] std::unique_ptr<journal> start_journal(store& target, journal_options options = {});

}  // namespace visitd::storage
