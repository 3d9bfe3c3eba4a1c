#include "app/allocator.hpp"

#if defined(VISITD_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

namespace visitd::app {

std::string allocator_name() {
#if defined(VISITD_WITH_JEMALLOC)
  const char* version = nullptr;
  std::size_t size = sizeof(version);
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) == 0 && version)
    return std::string{"jemalloc "}.append(version);
  return "jemalloc";
#else
  return "glibc malloc";
#endif
}

}  // namespace visitd::app
