#pragma once

// The domain never reads a clock: every function that needs "now" takes it as an argument, so
// tests are deterministic and replaying a journal gives the same state.

#include <chrono>

namespace visitd::domain {

/// A point in time, UTC, microsecond resolution (what the event journal stores).
using timestamp = std::chrono::sys_time<std::chrono::microseconds>;

/// A span of time at the same resolution as `timestamp`.
using duration = std::chrono::microseconds;

}  // namespace visitd::domain
