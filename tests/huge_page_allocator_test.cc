#include "projector/huge_page_allocator.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace fj {
namespace {

// The VmFlags line of the mapping that holds `p` in /proc/self/smaps.
std::string vm_flags_of(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
      inside = lo <= at && at < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return {};
}

bool kernel_has_thp() {
  struct stat st {};
  return ::stat("/sys/kernel/mm/transparent_hugepage/enabled", &st) == 0;
}

TEST(HugePageAllocatorTest, LargeBlocksAreAlignedAndAdvised) {
  HugePageAllocator<std::uint64_t> a;
  const std::size_t n = 3 * kHugePage / sizeof(std::uint64_t);
  std::uint64_t* p = a.allocate(n);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kHugePage, 0u);
  for (std::size_t i = 0; i < n; i += 512) p[i] = i;  // usable throughout
  EXPECT_EQ(p[n - n % 512 - 512], n - n % 512 - 512);
  if (kernel_has_thp()) {
    // "hg": the mapping carries MADV_HUGEPAGE, whatever the system's policy.
    EXPECT_NE(vm_flags_of(p).find(" hg"), std::string::npos) << vm_flags_of(p);
  }
  a.deallocate(p, n);
}

TEST(HugePageAllocatorTest, SmallBlocksWorkAndOversizedRequestsThrow) {
  HugePageAllocator<std::uint64_t> a;
  std::uint64_t* p = a.allocate(1000);
  ASSERT_NE(p, nullptr);
  p[999] = 7;
  EXPECT_EQ(p[999], 7u);
  a.deallocate(p, 1000);
  EXPECT_THROW((void)a.allocate(std::size_t(-1) / 2), std::bad_alloc);
}

}  // namespace
}  // namespace fj
