#include "auth/sodium.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace visitd::auth {

void ensure_sodium() {
  // sodium_init is itself idempotent and thread-safe; the static only saves the call.
  static const bool ready = [] {
    if (sodium_init() < 0) {
      std::fputs("visitd: libsodium failed to initialize\n", stderr);
      std::abort();  // no randomness: nothing in auth could be trusted
    }
    return true;
  }();
  (void)ready;
}

}  // namespace visitd::auth
