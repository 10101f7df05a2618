#include "projector/fork_table.h"

#include <algorithm>
#include <bit>
#include <memory>
#include <new>
#include <utility>

namespace fj {

namespace {

constexpr std::size_t kMinCapacity = 16;

ForkTable::Slot* allocate_slots(std::size_t capacity) {
  HugePageAllocator<ForkTable::Slot> alloc;
  ForkTable::Slot* slots = alloc.allocate(capacity);
  // Empty slots: an Id's constructor only writes its size byte, and
  // nothing here can throw.
  std::uninitialized_default_construct_n(slots, capacity);
  return slots;
}

}  // namespace

ForkTable::ForkTable(const ForkTable& other) {
  if (other.capacity_ == 0) return;
  slots_ = allocate_slots(other.capacity_);
  capacity_ = other.capacity_;
  mask_ = other.mask_;
  // Each entry at the same position keeps every probe run intact. An Id copy
  // of a heap-held id can throw: release what is built so far.
  try {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (other.slots_[i].first.size() != 0) {
        slots_[i].first = other.slots_[i].first;
        slots_[i].second = other.slots_[i].second;
        ++size_;
      }
    }
  } catch (...) {
    release();
    throw;
  }
}

ForkTable::ForkTable(ForkTable&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)),
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
  slots_ = nullptr;
  capacity_ = mask_ = size_ = 0;
}

bool ForkTable::insert(std::string_view fork, std::uint32_t index) {
  reserve(size_ + 1);
  for (std::size_t i = home(fork);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.first.size() == 0) {
      s.first = Id(fork);
      s.second = index;
      ++size_;
      return true;
    }
    if (IdEqual::same(s.first.view(), fork)) return false;
  }
}

void ForkTable::erase(const_iterator it) noexcept {
  // Backward shift: each entry after the gap whose home is not between the
  // gap and itself moves into the gap, so a lookup never stops early at an
  // empty slot that used to hold an entry of its run.
  std::size_t gap = static_cast<std::size_t>(it.at_ - slots_);
  for (std::size_t next = (gap + 1) & mask_; slots_[next].first.size() != 0;
       next = (next + 1) & mask_) {
    const std::size_t from_home = (next - home(slots_[next].first.view())) & mask_;
    if (from_home >= ((next - gap) & mask_)) {
      slots_[gap].first = std::move(slots_[next].first);  // leaves `next` empty
      slots_[gap].second = slots_[next].second;
      gap = next;
    }
  }
  slots_[gap].first = Id();
  --size_;
}

void ForkTable::reserve(std::size_t n) {
  if (4 * n <= capacity_) return;
  rebuild(std::max(kMinCapacity, std::bit_ceil(4 * n)));
}

void ForkTable::rebuild(std::size_t capacity) {
  ForkTable bigger;
  bigger.slots_ = allocate_slots(capacity);
  bigger.capacity_ = capacity;
  bigger.mask_ = capacity - 1;
  // Moving an Id neither allocates nor throws.
  for (std::size_t i = 0; i < capacity_; ++i) {
    Slot& s = slots_[i];
    if (s.first.size() == 0) continue;
    std::size_t j = bigger.home(s.first.view());
    while (bigger.slots_[j].first.size() != 0) j = (j + 1) & bigger.mask_;
    bigger.slots_[j].first = std::move(s.first);
    bigger.slots_[j].second = s.second;
    ++bigger.size_;
  }
  *this = std::move(bigger);
}

}  // namespace fj
