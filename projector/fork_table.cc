#include "projector/fork_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace fj {

namespace {
constexpr std::size_t kMinCapacity = 16;
}  // namespace

void ForkTable::allocate(std::size_t capacity) {
  HugePageAllocator<Slot> slot_alloc;
  HugePageAllocator<std::uint8_t> tag_alloc;
  Slot* slots = slot_alloc.allocate(capacity);
  std::uint8_t* tags;
  try {
    tags = tag_alloc.allocate(capacity);
  } catch (...) {
    slot_alloc.deallocate(slots, capacity);
    throw;
  }
  // An Id's constructor only writes its size byte: nothing here throws.
  std::uninitialized_default_construct_n(slots, capacity);
  std::memset(tags, kEmpty, capacity);
  slots_ = slots;
  tags_ = tags;
  capacity_ = capacity;
  mask_ = capacity - 1;
}

ForkTable::ForkTable(const ForkTable& other) {
  if (other.capacity_ == 0) return;
  allocate(other.capacity_);
  // Each entry at the same position keeps every probe run intact. An Id copy
  // of a heap-held id can throw: release what is built so far.
  try {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (other.tags_[i] == kEmpty) continue;
      slots_[i].first = other.slots_[i].first;
      slots_[i].second = other.slots_[i].second;
      tags_[i] = other.tags_[i];
      ++size_;
    }
  } catch (...) {
    release();
    throw;
  }
}

ForkTable::ForkTable(ForkTable&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)),
      tags_(std::exchange(other.tags_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      mask_(std::exchange(other.mask_, 0)),
      size_(std::exchange(other.size_, 0)) {}

ForkTable& ForkTable::operator=(const ForkTable& other) {
  if (this != &other) *this = ForkTable(other);
  return *this;
}

ForkTable& ForkTable::operator=(ForkTable&& other) noexcept {
  if (this != &other) {
    release();
    slots_ = std::exchange(other.slots_, nullptr);
    tags_ = std::exchange(other.tags_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    mask_ = std::exchange(other.mask_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

ForkTable::~ForkTable() {
  release();
}

void ForkTable::release() noexcept {
  if (slots_ == nullptr) return;
  std::destroy_n(slots_, capacity_);
  HugePageAllocator<Slot>().deallocate(slots_, capacity_);
  HugePageAllocator<std::uint8_t>().deallocate(tags_, capacity_);
  slots_ = nullptr;
  tags_ = nullptr;
  capacity_ = mask_ = size_ = 0;
}

bool ForkTable::insert(std::string_view fork, std::uint32_t index) {
  const std::size_t hash = IdHash{}(fork);
  std::size_t i = 0;
  if (capacity_ != 0) {
    i = probe(fork, hash);
    if (tags_[i] != kEmpty) return false;
  }
  Id id(fork);  // can throw (an id kept on the heap): before the table changes
  if (4 * (size_ + 1) > capacity_) {
    reserve(size_ + 1);
    i = vacant(hash);
  }
  place(i, std::move(id), index, hash);
  return true;
}

void ForkTable::place(std::size_t i, Id&& id, std::uint32_t index, std::size_t hash) noexcept {
  // Built over the empty Id, which owns nothing: assigning would read the
  // slot first to free what it holds.
  ::new (&slots_[i].first) Id(std::move(id));
  slots_[i].second = index;
  tags_[i] = tag(hash);
  ++size_;
}

void ForkTable::erase(const_iterator it) noexcept {
  // Backward shift: each entry after the gap whose home is not between the
  // gap and itself moves into the gap, so a lookup never stops early at an
  // empty slot that used to hold an entry of its run.
  std::size_t gap = static_cast<std::size_t>(it.at_ - slots_);
  for (std::size_t next = (gap + 1) & mask_; tags_[next] != kEmpty; next = (next + 1) & mask_) {
    const std::size_t home = IdHash{}(slots_[next].first.view()) & mask_;
    if (((next - home) & mask_) >= ((next - gap) & mask_)) {
      slots_[gap].first = std::move(slots_[next].first);  // leaves `next` an empty Id
      slots_[gap].second = slots_[next].second;
      tags_[gap] = tags_[next];
      gap = next;
    }
  }
  slots_[gap].first = Id();
  tags_[gap] = kEmpty;
  --size_;
}

void ForkTable::reserve(std::size_t n) {
  if (4 * n <= capacity_) return;
  rebuild(std::max(kMinCapacity, std::bit_ceil(4 * n)));
}

void ForkTable::rebuild(std::size_t capacity) {
  ForkTable bigger;
  bigger.allocate(capacity);
  // Moving an Id neither allocates nor throws.
  for (std::size_t i = 0; i < capacity_; ++i) {
    if (tags_[i] == kEmpty) continue;
    Slot& s = slots_[i];
    const std::size_t hash = IdHash{}(s.first.view());
    bigger.place(bigger.vacant(hash), std::move(s.first), s.second, hash);
  }
  *this = std::move(bigger);
}

}  // namespace fj
