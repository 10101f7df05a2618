#include "projector/huge_page_allocator.h"

#include "projector/projection.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace fj {
namespace {

// The VmFlags line of the mapping that holds `p` in /proc/self/smaps, or ""
// if no mapping holds it.
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
      return line + " ";
    }
  }
  return {};
}

bool advised(const void* p) {
  return vm_flags_of(p).find(" hg ") != std::string::npos;
}

// Whether this kernel takes the advice at all (a kernel built without THP
// refuses it): probed on a mapping of the test's own.
bool kernel_takes_advice() {
  void* p = ::mmap(nullptr, kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = ::madvise(p, kHugePage, MADV_HUGEPAGE) == 0 && advised(p);
  ::munmap(p, kHugePage);
  return ok;
}

// 36 bytes, like a fork table's slot: does not divide 2 MiB.
struct Slot {
  char bytes[36];
};
constexpr std::size_t kFirstHuge = (kHugePage + sizeof(Slot) - 1) / sizeof(Slot);

TEST(HugePageAllocatorTest, BlocksOf2MiBOrMoreAreAlignedMappedAndAdvised) {
  const bool takes = kernel_takes_advice();
  HugePageAllocator<Slot> a;
  for (const std::size_t n : {kFirstHuge, 3 * kFirstHuge + 1}) {
    errno = 0;
    Slot* p = a.allocate(n);
    EXPECT_EQ(errno, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kHugePage, 0u);
    p[0].bytes[0] = 1;  // writable from end to end
    p[n - 1].bytes[35] = 2;
    EXPECT_EQ(p[0].bytes[0] + p[n - 1].bytes[35], 3);
    if (takes) {
      EXPECT_TRUE(advised(p)) << vm_flags_of(p);
    }
    a.deallocate(p, n);
    EXPECT_EQ(vm_flags_of(p), "") << "the block's mapping outlived it";
  }
}

TEST(HugePageAllocatorTest, SmallerBlocksAreTheDefaultAllocatorsAndNotAdvised) {
  ASSERT_LT((kFirstHuge - 1) * sizeof(Slot), kHugePage);
  HugePageAllocator<Slot> a;
  Slot* p = a.allocate(kFirstHuge - 1);
  ASSERT_NE(p, nullptr);
  p[kFirstHuge - 2].bytes[0] = 7;
  EXPECT_EQ(p[kFirstHuge - 2].bytes[0], 7);
  EXPECT_FALSE(advised(p)) << vm_flags_of(p);
  a.deallocate(p, kFirstHuge - 1);
}

TEST(HugePageAllocatorTest, OversizedRequestsThrowAndAllocatorsCompareEqual) {
  HugePageAllocator<std::uint64_t> a;
  EXPECT_THROW((void)a.allocate(a.max_size() + 1), std::bad_alloc);
  EXPECT_TRUE(a == HugePageAllocator<char>());
  EXPECT_FALSE(HugePageAllocator<char>() != a);
}

TEST(HugePageAllocatorTest, TheProjectionsTablesUseIt) {
  const bool takes = kernel_takes_advice();
  Projection p;
  p.reserve(40'000, 100'000, 0);  // a template vector and fork table of several MiB
  const auto tpl = [](int i) { return "tpl" + std::to_string(i); };
  const auto fork = [](int i) { return "fork" + std::to_string(i); };
  std::uint64_t seq = 0;
  for (int i = 0; i < 40'000; ++i) {
    const std::string t = tpl(i);
    p.apply(++seq, EventView{.type = EventType::template_registered, .template_id = t});
  }
  for (int i = 0; i < 100'000; ++i) {
    const std::string t = tpl(i % 40'000), f = fork(i);
    p.apply(++seq, EventView{.type = EventType::fork_added, .template_id = t, .fork = f});
  }
  ASSERT_EQ(p.live_fork_count(), 100'000u);
  ASSERT_TRUE(p.anomalies().empty());
  const Template* t = p.find(tpl(0));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->forks, 3u);
  if (takes) {
    EXPECT_TRUE(advised(t)) << "template vector: " << vm_flags_of(t);
    const char* slot = p.all_live_forks().front().first.data();  // an Id inside its slot
    EXPECT_TRUE(advised(slot)) << "fork table: " << vm_flags_of(slot);
  }
}

}  // namespace
}  // namespace fj
