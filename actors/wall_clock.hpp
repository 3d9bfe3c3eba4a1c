#pragma once

// The wall clock as the domain counts time (microseconds since 1970, UTC). The domain never
// reads a clock; actors, request handlers and the CLI read it here, so there is one
// definition of "now" outside tests (which pass their own clocks). No CAF types.

#include "domain/time.hpp"

namespace visitd::actors {

[[nodiscard]] domain::timestamp wall_clock_now();

}  // namespace visitd::actors
