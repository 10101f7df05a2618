// HugePageAllocator: the allocator of the projection's tables. A block of
// 2 MiB or more is aligned to 2 MiB and advised MADV_HUGEPAGE, so that where
// the kernel allows transparent huge pages on request (Debian's default,
// "madvise" in /sys/kernel/mm/transparent_hugepage/enabled) it is backed by
// 2 MiB pages: a replay that fills a table of several MiB then takes a
// handful of page faults instead of one per 4 KiB, and misses the TLB far
// less on its random lookups (docs/decisions.md, "Huge pages for the
// projection's tables"). Smaller blocks come from std::allocator.
//
// Errors: allocate throws std::bad_alloc like std::allocator. The advice is
// only advice: where the kernel refuses it (no THP, "never") the block is
// used as it is. Lifetime: stateless; any instance frees what another
// allocated. Threads: safe from any thread.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <memory>
#include <new>

namespace fj {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() noexcept = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n < kHugePage / sizeof(T)) return std::allocator<T>().allocate(n);
    if (n > std::allocator_traits<std::allocator<T>>::max_size(std::allocator<T>())) {
      throw std::bad_array_new_length();
    }
    void* p = ::operator new (n * sizeof(T), std::align_val_t{kHugePage});
    (void)::madvise(p, n * sizeof(T), MADV_HUGEPAGE);  // advice: ignored if refused
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if (n < kHugePage / sizeof(T)) return std::allocator<T>().deallocate(p, n);
    ::operator delete (p, n * sizeof(T), std::align_val_t{kHugePage});
  }

  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) noexcept {
    return true;
  }
};

}  // namespace fj
