// Start-up recovery time: a store holding N open visits with E events each (default 100k x 10 =
// 1M events) is reopened and recovered (every tenant/endpoint/visit header read, every open
// visit's events read, decoded and folded). Three runs; prints median, min and max, and
//   recovery_seconds=<median>   as the last line.
// Usage: recovery_bench [VISITS] [EVENTS_PER_VISIT]   (VISITD_BENCH_DIR: where the store lives)

#include "domain/event_codec.hpp"
#include "domain/visit.hpp"
#include "storage/catalog.hpp"
#include "storage/recovery.hpp"
#include "storage/visit_log.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
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
  std::fprintf(stderr, "recovery_bench: %s\n", why.c_str());
  std::exit(1);
}

// One realistic visit's journal, made by the domain rules: provider and patient join, the
// patient is admitted, both are connected, device checks fill it up to `count` events.
std::vector<event_envelope> template_events(const visit_info& info, std::size_t count) {
  auto state = initial_state(info);
  std::vector<event_envelope> all;
  timestamp t{std::chrono::seconds{1'700'000'000}};
  auto run = [&](const command& c) {
    auto events = decide(state, c, t, visit_policy{});
    if (!events) die("template visit: " + events.err().message);
    for (auto& e : *events) {
      apply(state, e);
      all.push_back(e);
    }
    t += std::chrono::seconds(1);
  };
  auto doc = id<participant_id>("doc-4f1a");
  auto pat = id<participant_id>("pat-9c2e");
  run(cmd::join{doc, id<device_id>("d-1"), participant_role::provider,
                id<ehr_user_id>("Practitioner/123")});
  run(cmd::join{pat, id<device_id>("d-2"), participant_role::patient, id<join_id>("j-77ab")});
  run(cmd::admit{doc, pat});
  while (all.size() < count)
    run(cmd::report_device_test{pat, id<device_id>("d-2"), true, true, true});
  all.resize(count);
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t visits = argc > 1 ? std::stoul(argv[1]) : 100'000;
  const std::size_t per_visit = argc > 2 ? std::stoul(argv[2]) : 10;
  const char* env = std::getenv("VISITD_BENCH_DIR");
  auto dir = (env ? fs::path{env} : fs::temp_directory_path() / "visitd-bench") / "recovery";
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());

  {
    // Relaxed durability for the fill only: it is set-up, not what is measured.
    auto s = storage::open_rocksdb_store({dir.string(), storage::durability::relaxed});
    if (!s) die(s.err().message);
    auto fill_started = std::chrono::steady_clock::now();
    std::vector<storage::write_op> batch;
    for (std::size_t v = 0; v < visits; ++v) {
      auto info =
        make_visit_info(id<visit_id>("visit-" + std::to_string(v)),
                        id<tenant_id>("tenant-" + std::to_string(v % 100)), id<endpoint_id>("ep-1"),
                        id<fhir_reference>("Appointment/1"), std::nullopt, std::nullopt,
                        timestamp{std::chrono::seconds{1'700'000'000}});
      if (!info) die(info.err().message);
      static const auto events = template_events(*info, per_visit);
      for (auto& op : storage::open_visit_ops(*info)) batch.push_back(std::move(op));
      for (auto& op : storage::event_ops(info->id, info->endpoint, events))
        batch.push_back(std::move(op));
      if (batch.size() >= 20'000 || v + 1 == visits) {
        if (auto ok = (*s)->write(batch); !ok) die(ok.err().message);
        batch.clear();
      }
    }
    if (auto ok = (*s)->close(); !ok) die(ok.err().message);
    std::printf(
      "filled %zu visits x %zu events in %.1f s\n", visits, per_visit,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_started).count());
  }

  std::vector<double> seconds;
  for (int run = 0; run < 3; ++run) {
    auto started = std::chrono::steady_clock::now();
    auto s = storage::open_rocksdb_store({dir.string(), storage::durability::sync});
    if (!s) die(s.err().message);
    auto recovered = storage::recover(**s);
    if (!recovered) die(recovered.err().message);
    double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    seconds.push_back(elapsed);
    std::printf("run %d: %zu open visits, %zu events recovered in %.2f s (%.0f events/s)\n",
                run + 1, recovered->open_visits.size(), recovered->events_read, elapsed,
                static_cast<double>(recovered->events_read) / elapsed);
    if (recovered->events_read != visits * per_visit) die("recovered the wrong number of events");
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("recovery_seconds_min=%.2f recovery_seconds_max=%.2f\n", seconds.front(),
              seconds.back());
  std::printf("recovery_seconds=%.2f\n", seconds[1]);
  fs::remove_all(dir);
}
