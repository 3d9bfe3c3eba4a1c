// Start-up recovery time: a store holding N open visits with E events each (default 100k x 10 =
// 1M events) is reopened and recovered (every tenant/endpoint/visit header read, every open
// visit's events read, decoded and folded). Three runs; prints median, min and max, and
//   recovery_seconds=<median>   as the last line.
// Usage: recovery_bench [VISITS] [EVENTS_PER_VISIT]   (VISITD_BENCH_DIR: where the store lives)

#include "bench_support.hpp"
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
using bench::die;
using bench::id;

}  // namespace

int main(int argc, char** argv) {
  const std::size_t visits = argc > 1 ? std::stoul(argv[1]) : 100'000;
  const std::size_t per_visit = argc > 2 ? std::stoul(argv[2]) : 10;
  auto dir = bench::bench_dir("recovery");
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
      // The template's journal, cut to exactly `per_visit` events (the fold of a prefix of a
      // valid journal is valid).
      static const auto events = [&] {
        auto all = bench::in_progress_visit(per_visit).events;
        all.resize(per_visit);
        return all;
      }();
      for (auto& op : storage::open_visit_ops(*info)) batch.push_back(std::move(op));
      for (auto& op : storage::event_ops(info->id, events)) batch.push_back(std::move(op));
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
