#pragma once

#include "app/config.hpp"

#include <csignal>

namespace visitd::app {

/// Blocks SIGINT and SIGTERM in the calling thread, so every thread started afterwards inherits
/// the mask and serve() can collect them with sigwait(). Call first thing in main().
void block_shutdown_signals();

/// Runs the server until SIGINT or SIGTERM: opens the store, starts the actor runtime and the
/// HTTPS listener, then stops them in reverse order. Returns the process exit code (0 on a
/// clean stop).
[[nodiscard]] int serve(const config& settings);

}  // namespace visitd::app
