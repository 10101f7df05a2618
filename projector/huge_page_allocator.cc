#include "projector/huge_page_allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace fj::detail {
namespace {

std::size_t round_up(std::size_t n, std::size_t to) noexcept {
  return (n + to - 1) / to * to;
}

std::size_t page_size() noexcept {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

void* map_huge(std::size_t bytes) {
  const std::size_t length = round_up(bytes, page_size());
  // One huge page more than needed, then the ends trimmed, so that the block
  // starts on a 2 MiB boundary.
  const std::size_t mapped = length + kHugePage;
  void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  const auto at = reinterpret_cast<std::uintptr_t>(base);
  const std::uintptr_t start = round_up(at, kHugePage);
  const std::size_t head = start - at;
  const std::size_t tail = mapped - head - length;
  const int saved = errno;  // a refused trim or advice is not the caller's error
  if (head != 0) (void)::munmap(base, head);
  if (tail != 0) (void)::munmap(reinterpret_cast<void*>(start + length), tail);
  (void)::madvise(reinterpret_cast<void*>(start), length, MADV_HUGEPAGE);
  errno = saved;
  return reinterpret_cast<void*>(start);
}

void unmap_huge(void* p, std::size_t bytes) noexcept {
  const int saved = errno;
  (void)::munmap(p, round_up(bytes, page_size()));
  errno = saved;
}

}  // namespace fj::detail
