// Three figures of the visit actors.
// memory: N visit actors sharing one tenant environment, each with a provider and a patient
// admitted and connected (the visit in progress, nothing happening), as recovery would start
// them (state plus the visit's events as history); then each told to compact, as the directory
// does to a visit idle for `compact_after`. Reports the resident-set and heap growth per visit
// while live, and the heap in use per visit once compacted (the headline), net of the handle
// vector the benchmark keeps (a directory keeps one too).
//   actors_bench memory N [N ...]     prints bytes_per_visit=<compacted, at the largest N> last
// throughput: V visits, each driven by its own driver actor with one command in flight (a
// device-test result: one durable event plus its outbox entry per command), E commands each,
// through the real journal in sync mode; next to one thread writing raw RocksDB WriteBatches of
// 64 events (one of each of 64 visits) per fsync, in the same process and directory.
//   actors_bench throughput V E       prints durable_events_vs_raw_batched=<ratio> last
// latency: V visits, each watched by a subscriber actor; an open-loop sender makes R durable
// events/s (a device of the patient joins, then leaves, and so on) and each subscriber records
// the time from a command's send to the delivery of its event. 2 s warm-up, 8 s measured.
//   actors_bench latency V R [R ...]  prints join_to_subscriber_p99_us=<at the last R> last
// VISITD_BENCH_DIR: where the stores live.

#include "actors/visit_actor.hpp"
#include "bench_support.hpp"
#include "domain/visit.hpp"
#include "storage/journal.hpp"
#include "storage/keys.hpp"
#include "storage/rocksdb_options.hpp"

#include <caf/all.hpp>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

/// Bytes the allocator has handed out and not yet got back (all arenas, mmapped chunks too).
std::size_t heap_in_use_bytes() {
  auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
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
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);
    caf::actor_system system{cfg};
    auto env = tenant_environment(system, *db.journal, *db.store);
    malloc_trim(0);
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
    malloc_trim(0);
    auto rss_compacted = settled_resident_bytes();
    std::printf(
      "visits=%zu spawn_s=%.2f live: rss_bytes_per_visit=%.0f heap_bytes_per_visit=%.0f "
      "compacted: heap_bytes_per_visit=%.0f rss_bytes_per_visit=%.0f (after malloc_trim)\n",
      n, spawn_s, per_visit(rss_before, rss_live), per_visit(heap_before, heap_live),
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

/// Sends `remaining` device-test commands to `visit`, each after the previous one's reply.
void driver(caf::event_based_actor* self, const actors::visit_actor& visit, std::size_t remaining,
            const std::shared_ptr<std::atomic<std::size_t>>& pending_visits,
            const std::shared_ptr<std::promise<void>>& all_done) {
  if (remaining == 0) {
    if (pending_visits->fetch_sub(1) == 1) all_done->set_value();
    return;
  }
  command cmd =
    cmd::report_device_test{id<participant_id>("pat-9c2e"), id<device_id>("d-2"), true, true, true};
  self->request(visit, std::chrono::seconds(30), std::move(cmd))
    .then(
      [=](const actors::command_reply&) {
        driver(self, visit, remaining - 1, pending_visits, all_done);
      },
      [=](const caf::error& err) { die("command failed: " + self->system().render(err)); });
}

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
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::string value(64, 'e');
  std::size_t events = 0;
  auto started = std::chrono::steady_clock::now();
  for (std::uint64_t n = 0; std::chrono::steady_clock::now() - started < duration; ++n) {
    rocksdb::WriteBatch batch;
    for (int v = 0; v < 64; ++v) {
      // The store's own event key layout (visit id | 0x00 | seq), one event of each of 64 visits.
      batch.Put(storage::keys::event(std::string{"visit-"}.append(std::to_string(v)), n), value);
    }
    if (!db->Write(sync, &batch).ok()) die("raw write failed");
    events += 64;
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  (void)db->Close();
  db.reset();
  fs::remove_all(dir);
  return static_cast<double>(events) / seconds;
}

int throughput_main(std::size_t visits, std::size_t per_visit) {
  auto visit = bench::in_progress_visit();
  double actor_rate = 0;
  std::size_t commits = 0;
  {
    bench_store db{"actors-throughput"};  // declared first: outlives the actor system
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);
    caf::actor_system system{cfg};
    auto env = tenant_environment(system, *db.journal, *db.store);
    auto handles = spawn_visits(system, visit, visits, env);
    auto pending = std::make_shared<std::atomic<std::size_t>>(visits);
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    auto before = db.journal->statistics().commits;
    auto started = std::chrono::steady_clock::now();
    for (const auto& h : handles) system.spawn(driver, h, per_visit, pending, done);
    finished.wait();
    auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    actor_rate = static_cast<double>(visits * per_visit) / seconds;
    commits = db.journal->statistics().commits - before;
    for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(env->expiry, caf::exit_reason::user_shutdown);
  }  // actors stop, then the store closes: the raw baseline runs alone
  auto raw_rate =
    raw_batched_events_per_second(bench::bench_dir("actors-raw"), std::chrono::seconds(5));
  std::printf(
    "visits=%zu commands_per_visit=%zu durable_events_per_s=%.0f events_per_commit=%.1f "
    "raw_batch64_sync_events_per_s=%.0f\n",
    visits, per_visit, actor_rate,
    commits ? static_cast<double>(visits * per_visit) / static_cast<double>(commits) : 0, raw_rate);
  std::printf("durable_events_vs_raw_batched=%.3f\n", actor_rate / raw_rate);
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
  const auto patient = bench::template_patient();
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

int latency_main(std::size_t visits, const std::vector<double>& rates) {
  auto visit = bench::in_progress_visit();
  bench_store db{"actors-latency"};  // declared first: outlives the actor system
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system system{cfg};
  auto env = tenant_environment(system, *db.journal, *db.store);
  auto handles = spawn_visits(system, visit, visits, env);
  double last_p99 = 0;
  for (auto rate : rates) {
    auto before = db.journal->statistics();
    last_p99 = latency_run(system, handles, rate, std::chrono::seconds(2), std::chrono::seconds(8));
    auto after = db.journal->statistics();
    auto commits = static_cast<double>(after.commits - before.commits);
    std::printf(
      "  journal: %.0f commits, %.1f events per commit, %.0f us writing+syncing per "
      "commit, %.0f us delivering\n",
      commits, static_cast<double>(after.appends - before.appends) / commits,
      static_cast<double>(after.write_micros - before.write_micros) / commits,
      static_cast<double>(after.deliver_micros - before.deliver_micros) / commits);
  }
  for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(env->expiry, caf::exit_reason::user_shutdown);
  std::printf("join_to_subscriber_p99_us=%.0f\n", last_p99);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "memory" && argc > 2) return memory_main(argc, argv);
  if (mode == "throughput" && argc == 4)
    return throughput_main(std::stoul(argv[2]), std::stoul(argv[3]));
  if (mode == "latency" && argc > 3) {
    std::vector<double> rates;
    for (int arg = 3; arg < argc; ++arg) rates.push_back(std::stod(argv[arg]));
    return latency_main(std::stoul(argv[2]), rates);
  }
  std::fprintf(stderr,
               "usage: %s memory N [N ...] | throughput VISITS COMMANDS_PER_VISIT | "
               "latency VISITS RATE [RATE ...]\n",
               argv[0]);
  return 2;
}
