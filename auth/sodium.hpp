#pragma once

// libsodium must be initialized once before use (it picks its implementations and seeds its
// generator); every auth function calls this first. Thread-safe, cheap after the first call.

namespace visitd::auth {

void ensure_sodium();

}  // namespace visitd::auth
