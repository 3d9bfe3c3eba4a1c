// Three figures of the visit actors.
// memory: N visit actors sharing one tenant environment, each with a provider and a patient
// admitted and connected (the visit in progress, nothing happening), as recovery would start
// them (state plus the visit's events as history); then each told to compact, as the directory
// does to a visit idle for `compact_after`. Reports the resident-set and heap growth per visit
// while live, and the heap in use per visit once compacted (the headline), net of the handle
// vector the benchmark keeps (a directory keeps one too).
//   actors_bench memory N [N ...]     prints bytes_per_visit=<compacted, at the largest N> last
// throughput: V visits, each driven by its own driver actor with one command in flight (a
// device-test result: one durable event per command; its write-back item is rebuilt from the
// events, not stored), E commands each, through the real journal in sync mode. Then, alone in
// the process, two raw baselines of one thread writing RocksDB WriteBatches of 64 events per
// fsync: the same writes as the actors (each event as the actors encode and key it, one event of
// each of 64 visits, round robin over the V visits: the headline), and the journal benchmark's (one
// 64-byte event of each of 64 visits, the events column only). Medians over ROUNDS rounds (default
// 3).
//   actors_bench throughput V E [ROUNDS]  prints durable_events_vs_raw_batched=<ratio to the
//                                         same-writes baseline> last
// latency: V visits, each watched by a subscriber actor; an open-loop sender makes R durable
// events/s (a device of the patient joins, then leaves, and so on) and each subscriber records
// the time from a command's send to the delivery of its event. 2 s warm-up, 8 s measured. First
// prints what an 8 KiB append + fdatasync costs on the disk (the floor under every commit).
//   actors_bench latency V R [R ...]  prints join_to_subscriber_p99_us=<at the last R> last
// VISITD_BENCH_DIR: where the stores live.

#include "actors/visit_actor.hpp"
#include "bench_support.hpp"
#include "domain/visit.hpp"
#include "storage/journal.hpp"
#include "storage/keys.hpp"
#include "storage/rocksdb_options.hpp"
#include "storage/visit_log.hpp"

#include <caf/all.hpp>
#include <rocksdb/db.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/write_batch.h>

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#if defined(VISITD_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace visitd;
using namespace visitd::domain;

using bench::die;
using bench::id;

std::size_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::size_t pages = 0;
  std::size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

/// RSS once it stops growing (actors initialize asynchronously on the scheduler).
std::size_t settled_resident_bytes() {
  auto last = resident_bytes();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = resident_bytes();
    if (now <= last + last / 1000) return now;
    last = now;
  }
  return last;
}

/// One environment shared by every visit of a tenant, as the directory makes it (with the
/// directory's one expiry scheduler for all visits' deadlines).
std::shared_ptr<const actors::visit_environment> tenant_environment(caf::actor_system& system,
                                                                    storage::journal& journal,
                                                                    const storage::store& store) {
  auto env = std::make_shared<actors::visit_environment>();
  env->journal = &journal;
  env->store = &store;
  env->clock = [] { return timestamp{std::chrono::seconds{1'700'000'100}}; };
  env->expiry = actors::spawn_expiry_scheduler(system, env->clock);
  return env;
}

/// Spawns `n` idle copies of `visit` (ids visit-0, visit-1, ...), as recovery would start them.
std::vector<actors::visit_actor> spawn_visits(
  caf::actor_system& system, const bench::template_visit& visit, std::size_t n,
  const std::shared_ptr<const actors::visit_environment>& env) {
  std::vector<actors::visit_actor> handles;
  handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto state = visit.state;
    state.info.id = id<visit_id>(std::string{"visit-"}.append(std::to_string(i)));
    handles.push_back(actors::spawn_visit_actor(system, env, std::move(state), visit.events));
  }
  return handles;
}

/// A fresh sync-mode store and its journal under bench_dir(name), removed at destruction.
struct bench_store {
  explicit bench_store(const char* name) : dir(bench::bench_dir(name)) {
    fs::remove_all(dir);
    fs::create_directories(dir.parent_path());
    auto opened = storage::open_rocksdb_store({dir.string(), storage::durability::sync});
    if (!opened) die(opened.err().message);
    store = std::move(*opened);
    journal = storage::start_journal(*store);
  }
  ~bench_store() {
    journal->stop();
    (void)store->close();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<storage::store> store;
  std::unique_ptr<storage::journal> journal;
};

/// The malloc this benchmark (and visitd) runs on: see visitd_allocator in CMakeLists.txt.
const char* allocator() {
#if defined(VISITD_WITH_JEMALLOC)
  return "jemalloc";
#else
  return "glibc";
#endif
}

/// CAF as the benchmarks run it: two workers, one per core of the measured machine.
struct two_workers_config : caf::actor_system_config {
  two_workers_config() { set("scheduler.max-threads", 2); }
};

/// `visits` copies of `visit` as visit actors over a fresh sync-mode store (named `name`), as the
/// directory runs them; the actors are stopped, then the store closed, at destruction.
struct visit_fleet {
  visit_fleet(const char* name, const bench::template_visit& visit, std::size_t visits)
    : db(name),
      system(config),
      env(tenant_environment(system, *db.journal, *db.store)),
      handles(spawn_visits(system, visit, visits, env)) {}
  visit_fleet(const visit_fleet&) = delete;
  visit_fleet& operator=(const visit_fleet&) = delete;
  ~visit_fleet() {
    for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(env->expiry, caf::exit_reason::user_shutdown);
  }
  bench_store db;  // first: outlives the actor system
  two_workers_config config;
  caf::actor_system system;
  std::shared_ptr<const actors::visit_environment> env;
  std::vector<actors::visit_actor> handles;
};

/// Bytes the allocator has handed out and not yet got back (all arenas, large blocks too).
std::size_t heap_in_use_bytes() {
#if defined(VISITD_WITH_JEMALLOC)
  // jemalloc's statistics are a snapshot, refreshed by writing "epoch". Bytes in size classes:
  // what the application holds, rounded up to the class it was served from.
  std::uint64_t epoch = 1;
  std::size_t size = sizeof(epoch);
  (void)mallctl("epoch", &epoch, &size, &epoch, size);
  std::size_t allocated = 0;
  size = sizeof(allocated);
  if (mallctl("stats.allocated", &allocated, &size, nullptr, 0) != 0)
    die("jemalloc has no statistics (stats.allocated)");
  return allocated;
#else
  auto info = mallinfo2();  // chunk headers included
  return info.uordblks + info.hblkhd;
#endif
}

/// Gives unused memory back to the OS, so the RSS shows what is still held.
void release_free_memory() {
#if defined(VISITD_WITH_JEMALLOC)
  // 4096 is MALLCTL_ARENAS_ALL: every arena's dirty pages.
  (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
#else
  malloc_trim(0);
#endif
}

/// Heap in use once it stops changing (compaction messages are handled asynchronously).
std::size_t settled_heap_in_use_bytes() {
  auto last = heap_in_use_bytes();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = heap_in_use_bytes();
    if (now == last) return now;
    last = now;
  }
  return last;
}

int memory_main(int argc, char** argv) {
  bench_store db{"actors"};
  auto visit = bench::in_progress_visit();

  double last_figure = 0;
  for (int arg = 2; arg < argc; ++arg) {
    const std::size_t n = std::stoul(argv[arg]);
    two_workers_config cfg;
    caf::actor_system system{cfg};
    auto env = tenant_environment(system, *db.journal, *db.store);
    release_free_memory();
    auto rss_before = settled_resident_bytes();
    auto heap_before = settled_heap_in_use_bytes();
    auto started = std::chrono::steady_clock::now();
    auto handles = spawn_visits(system, visit, n, env);
    auto spawn_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto per_visit = [&](std::size_t before, std::size_t after) {
      return static_cast<double>(after - before) / static_cast<double>(n) -
             static_cast<double>(sizeof(actors::visit_actor));
    };
    auto rss_live = settled_resident_bytes();
    auto heap_live = settled_heap_in_use_bytes();
    // What the directory does to a visit idle for `compact_after`: the state is kept encoded and
    // the history dropped. Freed memory stays in the allocator's arenas (reused by the next
    // allocations, not returned to the OS), so the compacted figure is the heap in use.
    for (const auto& h : handles) caf::anon_send(h, actors::compact_atom::value);
    auto heap_compacted = settled_heap_in_use_bytes();
    release_free_memory();
    auto rss_compacted = settled_resident_bytes();
    std::printf(
      "allocator=%s visits=%zu spawn_s=%.2f live: rss_bytes_per_visit=%.0f "
      "heap_bytes_per_visit=%.0f compacted: heap_bytes_per_visit=%.0f rss_bytes_per_visit=%.0f "
      "(after releasing free memory)\n",
      allocator(), n, spawn_s, per_visit(rss_before, rss_live), per_visit(heap_before, heap_live),
      per_visit(heap_before, heap_compacted),
      per_visit(rss_before, std::max(rss_before, rss_compacted)));
    last_figure = per_visit(heap_before, heap_compacted);
    for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(env->expiry, caf::exit_reason::user_shutdown);
    handles.clear();
  }
  std::printf("bytes_per_visit=%.0f\n", last_figure);
  return 0;
}

// -- throughput -------------------------------------------------------------------------------

/// Sends `remaining` device-test commands to `visit`, each after the previous one's reply. The
/// driver stands for a caller and is not what is measured, so its request arms no CAF timeout:
/// in CAF 0.17 each one is a set and a cancel handed to the clock thread, which cost about a third
/// of the run's throughput (docs/benchmarks.md). A reply is still bounded: the visit actor answers
/// every command within its append timeout, and the whole run has a deadline (throughput_run).
void driver(caf::event_based_actor* self, const actors::visit_actor& visit, std::size_t remaining,
            const std::shared_ptr<std::atomic<std::size_t>>& pending_visits,
            const std::shared_ptr<std::promise<void>>& all_done) {
  if (remaining == 0) {
    if (pending_visits->fetch_sub(1) == 1) all_done->set_value();
    return;
  }
  self->request(visit, caf::infinite, bench::device_test_command())
    .then(
      [=](const actors::command_reply&) {
        driver(self, visit, remaining - 1, pending_visits, all_done);
      },
      [=](const caf::error& err) { die("command failed: " + self->system().render(err)); });
}

/// Events/s of one thread writing, for `duration`, sync WriteBatches of 64 events that `fill`
/// makes (its second argument numbers the batch from 0). RocksDB's perf counters are off, as the
/// store has them on its threads.
double events_per_second_in_batches_of_64(
  rocksdb::DB& db, std::chrono::seconds duration,
  const std::function<void(rocksdb::WriteBatch&, std::uint64_t)>& fill) {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  std::size_t events = 0;
  auto started = std::chrono::steady_clock::now();
  for (std::uint64_t n = 0; std::chrono::steady_clock::now() - started < duration; ++n) {
    rocksdb::WriteBatch batch;
    fill(batch, n);
    if (!db.Write(sync, &batch).ok()) die("raw write failed");
    events += 64;
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return static_cast<double>(events) / seconds;
}

/// The journal benchmark's baseline: one 64-byte event of each of the same 64 visits per batch, in
/// a store with only the `events` column's options.
double raw_batched_events_per_second(const fs::path& dir, std::chrono::seconds duration) {
  fs::remove_all(dir);
  // The store's `events` column options (memtable insert hints): same data, same configuration.
  rocksdb::Options options{rocksdb::DBOptions{}, storage::rocksdb_column_options(
                                                   storage::column_name(storage::column::events))};
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir.string(), &raw).ok()) die("cannot open raw store");
  std::unique_ptr<rocksdb::DB> db{raw};
  const std::string value(64, 'e');
  auto rate =
    events_per_second_in_batches_of_64(*db, duration, [&](rocksdb::WriteBatch& batch, auto n) {
      // The store's own event key layout (visit id | 0x00 | seq), one event of each of 64 visits.
      for (int v = 0; v < 64; ++v)
        batch.Put(storage::keys::event(std::string{"visit-"}.append(std::to_string(v)), n), value);
    });
  (void)db->Close();
  db.reset();
  fs::remove_all(dir);
  return rate;
}

/// What the visit actors write for one device-test command of visit number `i` (its event),
/// taken from the real decide/encode once; the baseline re-keys it per seq.
struct visit_writes {
  domain::visit_info info;
  std::vector<storage::write_op> ops;

  /// The key of the visit's event `seq`, made as the store makes it.
  [[nodiscard]] std::string key(std::uint64_t seq) const {
    return storage::keys::event(info.id.str(), seq);
  }
};

visit_writes device_test_writes(const bench::template_visit& visit, std::size_t i) {
  auto state = visit.state;
  state.info.id = id<visit_id>(std::string{"visit-"}.append(std::to_string(i)));
  auto events = decide(state, bench::device_test_command(),
                       timestamp{std::chrono::seconds{1'700'000'100}}, visit_policy{});
  if (!events || events->empty()) die("the device-test command decides to nothing");
  visit_writes writes{state.info, storage::event_ops(state.info.id, *events)};
  for (const auto& op : writes.ops)
    if (op.c != storage::column::events || op.key != writes.key(state.last_seq + 1))
      die("unexpected key layout");
  return writes;
}

/// One thread writing raw RocksDB WriteBatches of 64 events per fsync, each event written as the
/// visit actors write it (same key and value, in the store's `events` column with the store's
/// options), one event of each of 64
/// consecutive visits of `visits` (round robin): the same writes as the actor run, with no actor,
/// journal or encoding in between.
double raw_same_writes_events_per_second(const fs::path& dir, const bench::template_visit& visit,
                                         std::size_t visits, std::chrono::seconds duration) {
  fs::remove_all(dir);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  std::vector<rocksdb::ColumnFamilyDescriptor> families{
    {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{}}};
  const auto events_family = std::string{storage::column_name(storage::column::events)};
  families.emplace_back(events_family, storage::rocksdb_column_options(events_family));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(db_options, dir.string(), families, &handles, &raw).ok())
    die("cannot open raw store");
  std::unique_ptr<rocksdb::DB> db{raw};
  std::vector<visit_writes> per_visit;
  per_visit.reserve(visits);
  for (std::size_t i = 0; i < visits; ++i) per_visit.push_back(device_test_writes(visit, i));
  std::vector<std::uint64_t> next_seq(visits, visit.state.last_seq + 1);
  std::size_t next_visit = 0;
  auto rate =
    events_per_second_in_batches_of_64(*db, duration, [&](rocksdb::WriteBatch& batch, auto) {
      for (int n = 0; n < 64; ++n) {
        auto v = next_visit++ % visits;
        auto seq = next_seq[v]++;
        for (const auto& op : per_visit[v].ops)
          batch.Put(handles[1], per_visit[v].key(seq), op.value);
      }
    });
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
  db.reset();
  fs::remove_all(dir);
  return rate;
}

struct throughput_figures {
  double actor_events_per_s = 0;
  double events_per_commit = 0;
};

/// One round: `visits` visit actors over a fresh sync-mode store, each driven through
/// `per_visit` device-test commands.
throughput_figures throughput_run(const bench::template_visit& visit, std::size_t visits,
                                  std::size_t per_visit) {
  visit_fleet fleet{"actors-throughput", visit, visits};
  auto pending = std::make_shared<std::atomic<std::size_t>>(visits);
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  auto before = fleet.db.journal->statistics().commits;
  auto started = std::chrono::steady_clock::now();
  for (const auto& h : fleet.handles) fleet.system.spawn(driver, h, per_visit, pending, done);
  if (finished.wait_for(std::chrono::minutes(10)) != std::future_status::ready)
    die("the throughput run did not finish within 10 minutes");
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto commits = fleet.db.journal->statistics().commits - before;
  const auto events = static_cast<double>(visits * per_visit);
  return {events / seconds, commits ? events / static_cast<double>(commits) : 0};
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

/// `rounds` rounds, each the actors' run and then, alone in the process, the two raw baselines.
/// The headline is the median over rounds of the actors' rate over the same-writes baseline.
int throughput_main(std::size_t visits, std::size_t per_visit, std::size_t rounds) {
  auto visit = bench::in_progress_visit();
  std::vector<double> vs_same_writes;
  std::vector<double> vs_events_only;
  for (std::size_t round = 1; round <= rounds; ++round) {
    auto actors = throughput_run(visit, visits, per_visit);  // stopped before the baselines run
    auto same_writes = raw_same_writes_events_per_second(bench::bench_dir("actors-raw-same"), visit,
                                                         visits, std::chrono::seconds(5));
    auto events_only =
      raw_batched_events_per_second(bench::bench_dir("actors-raw"), std::chrono::seconds(5));
    vs_same_writes.push_back(actors.actor_events_per_s / same_writes);
    vs_events_only.push_back(actors.actor_events_per_s / events_only);
    std::printf(
      "round=%zu allocator=%s visits=%zu commands_per_visit=%zu durable_events_per_s=%.0f "
      "events_per_commit=%.1f raw_same_writes_events_per_s=%.0f "
      "raw_batch64_events_only_per_s=%.0f ratio_to_same_writes=%.3f ratio_to_events_only=%.3f\n",
      round, allocator(), visits, per_visit, actors.actor_events_per_s, actors.events_per_commit,
      same_writes, events_only, vs_same_writes.back(), vs_events_only.back());
  }
  std::printf("median ratio_to_raw_batch64_events_only_64_visits=%.3f\n", median(vs_events_only));
  std::printf("durable_events_vs_raw_batched=%.3f\n", median(vs_same_writes));
  return 0;
}

// -- latency ----------------------------------------------------------------------------------

/// Send times of every command (steady-clock ns), indexed by command number; the subscriber of
/// the command's visit reads them when the command's event arrives.
struct latency_log {
  latency_log(std::size_t commands, std::size_t visit_count)
    : visits(visit_count), sent_ns(commands), latency_ns(commands) {}
  std::size_t visits;
  std::vector<std::atomic<std::int64_t>> sent_ns;
  std::vector<std::atomic<std::int64_t>> latency_ns;  ///< 0 until delivered
  std::atomic<std::size_t> delivered{0};
  std::atomic<bool> dropped{false};
};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// The device every latency command joins or leaves: the patient's second device.
const device_id& bench_device() {
  static const auto device = id<device_id>("bench");
  return device;
}

/// A provider's view of visit number `visit_index`: its k-th event about the bench device comes
/// from command `visit_index + k * V` (commands to a visit are made, and its events delivered,
/// in order). Records the time from that command's send to this delivery; acknowledges every
/// message.
actors::visit_subscriber::behavior_type latency_subscriber(actors::visit_subscriber::pointer self,
                                                           const std::shared_ptr<latency_log>& log,
                                                           std::size_t visit_index) {
  auto ack = [self](std::uint64_t seq) {
    self->send(caf::actor_cast<actors::visit_actor>(self->current_sender()),
               actors::subscriber_ack_atom::value, caf::actor_cast<actors::visit_subscriber>(self),
               seq);
  };
  auto seen = std::make_shared<std::size_t>(0);
  return {
    [ack](actors::snapshot_atom, const visit_state& s) { ack(s.last_seq); },
    [ack, log, visit_index, seen](actors::events_atom, const actors::visit_events& batch) {
      auto now = steady_ns();
      for (const auto& e : batch.events) {
        const auto* c = std::get_if<domain::connected>(&e.event);
        const auto* d = std::get_if<domain::disconnected>(&e.event);
        if (!(c && c->device == bench_device()) && !(d && d->device == bench_device())) continue;
        auto n = visit_index + (*seen)++ * log->visits;
        log->latency_ns[n].store(now - log->sent_ns[n].load(std::memory_order_acquire),
                                 std::memory_order_relaxed);
        log->delivered.fetch_add(1, std::memory_order_relaxed);
      }
      ack(batch.events.back().seq);
    },
    [log](actors::subscriber_dropped_atom, const actors::subscriber_dropped&) {
      log->dropped = true;
    },
  };
}

double percentile_us(std::vector<std::int64_t>& sorted_ns, double p) {
  auto index = static_cast<std::size_t>(p * static_cast<double>(sorted_ns.size() - 1));
  return static_cast<double>(sorted_ns[index]) / 1e3;
}

/// Open-loop load at `rate` commands/s for `warmup + measure`, every command one durable event:
/// command n goes to visit n % V; per visit, commands alternate between a join of a second
/// device of the (admitted, connected) patient and that device's leave, so each makes one
/// connected/disconnected event. Commands are sent in 1 ms ticks (all the commands due in a tick).
/// Prints percentiles of the join commands' latency after the warm-up (and of all commands).
/// Returns join p99 in us.
double latency_run(caf::actor_system& system, const std::vector<actors::visit_actor>& visits,
                   double rate, std::chrono::seconds warmup, std::chrono::seconds measure) {
  const auto total =
    static_cast<std::size_t>(rate * static_cast<double>((warmup + measure).count()));
  const auto first_measured = static_cast<std::size_t>(rate * static_cast<double>(warmup.count()));
  const std::size_t v = visits.size();
  auto log = std::make_shared<latency_log>(total, v);
  std::vector<actors::visit_subscriber> subscribers;
  subscribers.reserve(v);
  {
    caf::scoped_actor self{system};
    for (std::size_t i = 0; i < v; ++i) {
      const auto& visit = visits[i];
      auto sub = system.spawn(latency_subscriber, log, i);
      self->request(visit, std::chrono::seconds(10), actors::subscribe_atom::value, sub)
        .receive([](std::uint64_t) {},
                 [&](const caf::error& err) { die("subscribe: " + system.render(err)); });
      subscribers.push_back(sub);
    }
  }
  const auto& patient = bench::template_patient();
  const auto started = std::chrono::steady_clock::now();
  const auto tick = std::chrono::milliseconds(1);
  std::size_t next = 0;
  auto deadline = started;
  while (next < total) {
    deadline += tick;
    auto elapsed = std::chrono::duration<double>(deadline - started).count();
    auto due = std::min(total, static_cast<std::size_t>(rate * elapsed));
    for (; next < due; ++next) {
      const auto& visit = visits[next % v];
      command cmd = (next / v) % 2 == 0
                      ? command{cmd::join{patient, bench_device(), participant_role::patient,
                                          id<join_id>("j-77ab")}}
                      : command{cmd::leave{patient, bench_device()}};
      log->sent_ns[next].store(steady_ns(), std::memory_order_release);
      caf::anon_send(visit, std::move(cmd));
    }
    std::this_thread::sleep_until(deadline);
  }
  auto send_seconds =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (int i = 0; i < 1000 && log->delivered.load() < total; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (log->dropped) die("a subscriber was dropped (fell behind)");
  if (log->delivered.load() != total)
    die("delivered " + std::to_string(log->delivered.load()) + " of " + std::to_string(total) +
        " events");
  std::vector<std::int64_t> joins;
  std::vector<std::int64_t> all;
  for (std::size_t n = first_measured; n < total; ++n) {
    auto ns = log->latency_ns[n].load();
    all.push_back(ns);
    if ((n / v) % 2 == 0) joins.push_back(ns);
  }
  std::sort(joins.begin(), joins.end());
  std::sort(all.begin(), all.end());
  std::printf(
    "latency events_per_s=%.0f (sent at %.0f/s) visits=%zu measured_joins=%zu: "
    "join_p50_us=%.0f join_p99_us=%.0f join_p999_us=%.0f join_max_us=%.0f "
    "all_commands_p99_us=%.0f\n",
    rate, static_cast<double>(total) / send_seconds, v, joins.size(), percentile_us(joins, 0.5),
    percentile_us(joins, 0.99), percentile_us(joins, 0.999), percentile_us(joins, 1.0),
    percentile_us(all, 0.99));
  for (const auto& sub : subscribers) caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
  return percentile_us(joins, 0.99);
}

/// What one commit's fsync costs on the benchmark's disk: `bytes` appended to a file beside the
/// stores, then fdatasync, `rounds` times (the first 50 not counted); p50 and p99 in us. Every
/// durable event waits for one of these, so the latency figures are only comparable across
/// machines (or days of one virtual machine) next to it.
std::pair<double, double> append_fdatasync_us(std::size_t bytes, std::size_t rounds) {
  auto path = bench::bench_dir("fdatasync-probe");
  fs::create_directories(path.parent_path());
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create " + path.string());
  const std::string record(bytes, 'x');
  std::vector<std::int64_t> ns;
  for (std::size_t i = 0; i < rounds + 50; ++i) {
    auto started = steady_ns();
    if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) ||
        ::fdatasync(fd) != 0)
      die("append and fdatasync failed on " + path.string());
    if (i >= 50) ns.push_back(steady_ns() - started);
  }
  ::close(fd);
  fs::remove(path);
  std::sort(ns.begin(), ns.end());
  return {percentile_us(ns, 0.5), percentile_us(ns, 0.99)};
}

int latency_main(std::size_t visits, const std::vector<double>& rates) {
  // About the WAL record of a 50k/s commit when each event had its outbox entry (~47 events of
  // ~170 bytes); kept at 8 KiB since, so the figure compares with earlier runs.
  auto [sync_p50, sync_p99] = append_fdatasync_us(std::size_t{8} * 1024, 500);
  std::printf("disk: append of 8 KiB + fdatasync p50_us=%.0f p99_us=%.0f\n", sync_p50, sync_p99);
  visit_fleet fleet{"actors-latency", bench::in_progress_visit(), visits};
  double last_p99 = 0;
  for (auto rate : rates) {
    auto before = fleet.db.journal->statistics();
    last_p99 = latency_run(fleet.system, fleet.handles, rate, std::chrono::seconds(2),
                           std::chrono::seconds(8));
    auto after = fleet.db.journal->statistics();
    auto commits = static_cast<double>(after.commits - before.commits);
    std::printf(
      "  journal: %.0f commits, %.1f events per commit, %.0f us gathering, %.0f us "
      "writing+syncing per commit, %.0f us delivering\n",
      commits, static_cast<double>(after.appends - before.appends) / commits,
      static_cast<double>(after.gather_micros - before.gather_micros) / commits,
      static_cast<double>(after.write_micros - before.write_micros) / commits,
      static_cast<double>(after.deliver_micros - before.deliver_micros) / commits);
  }
  std::printf("join_to_subscriber_p99_us=%.0f\n", last_p99);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "memory" && argc > 2) return memory_main(argc, argv);
  if (mode == "throughput" && (argc == 4 || argc == 5))
    return throughput_main(std::stoul(argv[2]), std::stoul(argv[3]),
                           argc == 5 ? std::stoul(argv[4]) : 3);
  if (mode == "latency" && argc > 3) {
    std::vector<double> rates;
    for (int arg = 3; arg < argc; ++arg) rates.push_back(std::stod(argv[arg]));
    return latency_main(std::stoul(argv[2]), rates);
  }
  std::fprintf(stderr,
               "usage: %s memory N [N ...] | throughput VISITS COMMANDS_PER_VISIT [ROUNDS] | "
               "latency VISITS RATE [RATE ...]\n",
               argv[0]);
  return 2;
}
