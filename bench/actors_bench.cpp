// Memory per idle live visit actor: N visit actors, each with a provider and a patient admitted
// and connected (the visit in progress, nothing happening), as recovery would start them (state
// plus the visit's events as history). Reports the resident-set growth per visit, net of the
// handle vector the benchmark keeps (a directory keeps one too).
//   actors_bench memory N [N ...]     prints bytes_per_visit=<figure at the largest N> last
// VISITD_BENCH_DIR: where the (unused but required) store lives.

#include "actors/visit_actor.hpp"
#include "domain/visit.hpp"
#include "storage/journal.hpp"

#include <caf/all.hpp>

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace visitd;
using namespace visitd::domain;

template <class Id>
Id id(std::string_view text) {
  return *Id::parse(text);
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "actors_bench: %s\n", why.c_str());
  std::exit(1);
}

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

struct template_visit {
  visit_state state;
  std::vector<event_envelope> events;
};

template_visit in_progress_visit() {
  auto info =
    make_visit_info(id<visit_id>("visit-template"), id<tenant_id>("tenant-1"),
                    id<endpoint_id>("ep-1"), id<fhir_reference>("Appointment/1"), std::nullopt,
                    std::nullopt, timestamp{std::chrono::seconds{1'700'000'000}});
  if (!info) die(info.err().message);
  template_visit v{initial_state(*info), {}};
  timestamp t{std::chrono::seconds{1'700'000'000}};
  auto run = [&](const command& c) {
    auto events = decide(v.state, c, t, visit_policy{});
    if (!events) die(events.err().message);
    for (auto& e : *events) {
      apply(v.state, e);
      v.events.push_back(e);
    }
    t += std::chrono::seconds(1);
  };
  auto doc = id<participant_id>("doc-4f1a");
  auto pat = id<participant_id>("pat-9c2e");
  run(cmd::join{doc, id<device_id>("d-1"), participant_role::provider,
                id<ehr_user_id>("Practitioner/123")});
  run(cmd::join{pat, id<device_id>("d-2"), participant_role::patient, id<join_id>("j-77ab")});
  run(cmd::admit{doc, pat});
  if (v.state.status != visit_status::in_progress) die("template visit is not in progress");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string{argv[1]} != "memory") {
    std::fprintf(stderr, "usage: %s memory N [N ...]\n", argv[0]);
    return 2;
  }
  const char* env = std::getenv("VISITD_BENCH_DIR");
  auto dir = (env ? fs::path{env} : fs::temp_directory_path() / "visitd-bench") / "actors";
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());
  auto store = storage::open_rocksdb_store({dir.string(), storage::durability::sync});
  if (!store) die(store.err().message);
  auto journal = storage::start_journal(**store);
  auto visit = in_progress_visit();

  double last_figure = 0;
  for (int arg = 2; arg < argc; ++arg) {
    const std::size_t n = std::stoul(argv[arg]);
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 2);
    caf::actor_system system{cfg};
    std::vector<actors::visit_actor> handles;
    handles.reserve(n);
    malloc_trim(0);
    auto before = settled_resident_bytes();
    auto started = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      actors::visit_actor_args args;
      args.state = visit.state;
      args.state.info.id = id<visit_id>(std::string{"visit-"}.append(std::to_string(i)));
      args.history = visit.events;
      args.journal = journal.get();
      args.store = store->get();
      args.clock = [] { return timestamp{std::chrono::seconds{1'700'000'100}}; };
      handles.push_back(actors::spawn_visit_actor(system, std::move(args)));
    }
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
  journal->stop();
  (void)(*store)->close();
  fs::remove_all(dir);
  std::printf("bytes_per_visit=%.0f\n", last_figure);
}
