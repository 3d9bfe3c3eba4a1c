// Two figures of the visit actors.
// memory: N visit actors, each with a provider and a patient admitted
// and connected (the visit in progress, nothing happening), as recovery would start them (state
// plus the visit's events as history). Reports the resident-set growth per visit, net of the
// handle vector the benchmark keeps (a directory keeps one too).
//   actors_bench memory N [N ...]     prints bytes_per_visit=<figure at the largest N> last
// throughput: V visits, each driven by its own driver actor with one command in flight (a
// device-test result: one durable event plus its outbox entry per command), E commands each,
// through the real journal in sync mode; next to one thread writing raw RocksDB WriteBatches of
// 64 events (one of each of 64 visits) per fsync, in the same process and directory.
//   actors_bench throughput V E       prints durable_events_vs_raw_batched=<ratio> last
// VISITD_BENCH_DIR: where the stores live.

#include "actors/visit_actor.hpp"
#include "bench_support.hpp"
#include "domain/visit.hpp"
#include "storage/journal.hpp"

#include <caf/all.hpp>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <malloc.h>
#include <unistd.h>

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

/// Spawns `n` idle copies of `visit` (ids visit-0, visit-1, ...), as recovery would start them.
std::vector<actors::visit_actor> spawn_visits(caf::actor_system& system,
                                              const bench::template_visit& visit, std::size_t n,
                                              storage::journal& journal,
                                              const storage::store& store) {
  std::vector<actors::visit_actor> handles;
  handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    actors::visit_actor_args args;
    args.state = visit.state;
    args.state.info.id = id<visit_id>(std::string{"visit-"}.append(std::to_string(i)));
    args.history = visit.events;
    args.journal = &journal;
    args.store = &store;
    args.clock = [] { return timestamp{std::chrono::seconds{1'700'000'100}}; };
    handles.push_back(actors::spawn_visit_actor(system, std::move(args)));
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

int memory_main(int argc, char** argv) {
  bench_store db{"actors"};
  auto visit = bench::in_progress_visit();

  double last_figure = 0;
  for (int arg = 2; arg < argc; ++arg) {
    const std::size_t n = std::stoul(argv[arg]);
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);
    caf::actor_system system{cfg};
    malloc_trim(0);
    auto before = settled_resident_bytes();
    auto started = std::chrono::steady_clock::now();
    auto handles = spawn_visits(system, visit, n, *db.journal, *db.store);
    auto spawn_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto after = settled_resident_bytes();
    auto per_visit = static_cast<double>(after - before) / static_cast<double>(n) -
                     static_cast<double>(sizeof(actors::visit_actor));
    std::printf("visits=%zu spawn_s=%.2f rss_delta_mb=%.1f bytes_per_visit=%.0f\n", n, spawn_s,
                static_cast<double>(after - before) / 1e6, per_visit);
    last_figure = per_visit;
    for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
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
  rocksdb::Options options;
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
      auto key = std::string{"visit-"}.append(std::to_string(v)).append(1, '\0');
      key.append(std::to_string(n));
      batch.Put(key, value);
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
    auto handles = spawn_visits(system, visit, visits, *db.journal, *db.store);
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

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "memory" && argc > 2) return memory_main(argc, argv);
  if (mode == "throughput" && argc == 4)
    return throughput_main(std::stoul(argv[2]), std::stoul(argv[3]));
  std::fprintf(stderr, "usage: %s memory N [N ...] | throughput VISITS COMMANDS_PER_VISIT\n",
               argv[0]);
  return 2;
}
