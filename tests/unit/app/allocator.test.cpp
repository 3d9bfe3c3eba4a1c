#include "app/allocator.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#if defined(VISITD_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>

namespace {

std::size_t jemalloc_allocated_bytes() {
  std::uint64_t epoch = 1;
  std::size_t size = sizeof(epoch);
  EXPECT_EQ(mallctl("epoch", &epoch, &size, &epoch, size), 0);
  std::size_t allocated = 0;
  size = sizeof(allocated);
  EXPECT_EQ(mallctl("stats.allocated", &allocated, &size, nullptr, 0), 0);
  return allocated;
}

}  // namespace
#endif

namespace visitd::app {

#if defined(VISITD_WITH_JEMALLOC)
TEST(allocator, the_process_mallocs_through_jemalloc) {
  EXPECT_TRUE(allocator_name().starts_with("jemalloc 5.")) << allocator_name();
  // Linking jemalloc is not enough: plain malloc (and so new, and RocksDB's and CAF's
  // allocations) must resolve to it, or its statistics would not see this block.
  auto before = jemalloc_allocated_bytes();
  constexpr std::size_t block = 8u << 20;
  void* p = std::malloc(block);
  ASSERT_NE(p, nullptr);
  auto during = jemalloc_allocated_bytes();
  std::free(p);
  EXPECT_GE(during, before + block);
}
#else
TEST(allocator, names_glibc_malloc_without_jemalloc) {
  EXPECT_EQ(allocator_name(), "glibc malloc");
}
#endif

}  // namespace visitd::app
