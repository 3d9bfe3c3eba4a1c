#include "app/retention_runner.hpp"

#include <spdlog/spdlog.h>

namespace visitd::app {

retention_runner::retention_runner(storage::store& target, storage::retention_policy policy,
                                   std::chrono::minutes interval)
  : store_(target), policy_(policy), interval_(interval), thread_([this] { run(); }) {}

retention_runner::~retention_runner() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void retention_runner::run() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    lock.unlock();
    auto started = std::chrono::steady_clock::now();
    auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    auto outcome = storage::apply_retention(store_, now, policy_);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - started)
                .count();
    if (outcome)
      spdlog::info(
        "retention visits_purged={} visits_kept_for_write_back={} tenants_checked={} ms={}",
        outcome->visits_purged, outcome->visits_kept_for_write_back, outcome->tenants_with_reports,
        ms);
    else
      spdlog::error("retention failed: {}", outcome.err().message);
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace visitd::app
