#pragma once

// Which malloc the process runs on. visitd links jemalloc where it is available (Debian's
// libjemalloc-dev; see the root CMakeLists.txt): with thousands of visit actors on a few CAF
// workers, most allocations are made on one thread and freed on another (a command's writes are
// built by an actor and freed by the journal thread), which glibc's per-arena locks serve
// poorly (docs/benchmarks.md, "Actors: durable events/s").

#include <string>

namespace visitd::app {

/// "jemalloc <version>" or "glibc malloc", for the start-up log line.
[[nodiscard]] std::string allocator_name();

}  // namespace visitd::app
