// HugePageAllocator: the allocator of the projection's tables. A block of
// 2 MiB or more gets a private anonymous mapping of its own, aligned to
// 2 MiB and advised MADV_HUGEPAGE, so that where the kernel grants
// transparent huge pages on request (Debian's default, "madvise" in
// /sys/kernel/mm/transparent_hugepage/enabled, or "always") each whole
// 2 MiB of it is backed by one huge page (the tail past the last 2 MiB
// boundary stays in 4 KiB pages): a replay that fills a table of several MiB
// then takes a handful of page faults instead of one per 4 KiB, and its
// random lookups need one TLB entry per 2 MiB instead of 512
// (docs/decisions.md, "The tables on huge pages"). The mapping is the
// block's alone, so the advice never reaches memory that malloc hands out
// again, and freeing the block returns it to the kernel at once. Smaller
// blocks come from std::allocator.
//
// Errors: allocate throws std::bad_alloc (std::bad_array_new_length past
// max_size()) when the memory cannot be had. The advice is only advice: a
// kernel without THP refuses it (the block is used as it is, errno left
// unchanged), and one set to "never" accepts it and uses 4 KiB pages.
// Lifetime: stateless; any instance frees what another allocated. Threads:
// safe from any thread. Linux only (mmap, MADV_HUGEPAGE).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace fj {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

namespace detail {
// A mapping of at least `bytes` bytes aligned to kHugePage, advised
// MADV_HUGEPAGE. Throws std::bad_alloc if the kernel has no memory to map.
void* map_huge(std::size_t bytes);
// Unmaps what map_huge(bytes) returned.
void unmap_huge(void* p, std::size_t bytes) noexcept;
}  // namespace detail

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() noexcept = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  std::size_t max_size() const noexcept { return PTRDIFF_MAX / sizeof(T); }

  T* allocate(std::size_t n) {
    if (!huge(n)) return std::allocator<T>().allocate(n);
    if (n > max_size()) throw std::bad_array_new_length();
    return static_cast<T*>(detail::map_huge(n * sizeof(T)));
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if (!huge(n)) return std::allocator<T>().deallocate(p, n);
    detail::unmap_huge(p, n * sizeof(T));
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }

 private:
  // n * sizeof(T) >= kHugePage, without the product's overflow.
  static constexpr bool huge(std::size_t n) noexcept {
    return n >= (kHugePage + sizeof(T) - 1) / sizeof(T);
  }
};

}  // namespace fj
