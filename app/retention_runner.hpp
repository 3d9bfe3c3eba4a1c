#pragma once

// Runs storage retention (storage/retention.hpp) at start and then every `interval`, on its own
// thread: it scans every visit header, which must never run on an io thread or a CAF worker.

#include "storage/retention.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace visitd::app {

class retention_runner {
public:
  retention_runner(storage::store& target, storage::retention_policy policy,
                   std::chrono::minutes interval);
  ~retention_runner();  ///< Stops and joins; an in-progress pass finishes first.
  retention_runner(const retention_runner&) = delete;
  retention_runner& operator=(const retention_runner&) = delete;

private:
  void run();

  storage::store& store_;
  storage::retention_policy policy_;
  std::chrono::minutes interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace visitd::app
