// ForkTable: live fork id -> index of its template, the map a replay touches
// on nearly every event.
//
// An open-addressing table with linear probing, at most a quarter full. Its
// slots hold the entries; a byte per slot beside them (a tag: "used" and 7
// bits of the key's hash) tells a probe whether a slot is empty or cannot
// hold the key without reading the slot, so inserting a new fork reads no
// slot: its store of the entry does not wait for memory. The slot and the
// tag a lookup starts at follow from the key's hash alone, so prefetch(fork)
// can pull both into the cache while earlier events are still being applied
// (even the 256 KB of tags of a 60,000-fork table do not stay cached where a
// host leaves a VM little L3: docs/decisions.md, "The tags and the records
// prefetched"); a table whose slot depends on what a first load finds
// (Boost's unordered_flat_map) cannot be prefetched (docs/decisions.md, "The
// fork table's own slots"). Erase shifts the run behind the erased slot back
// (no tombstones), so fork/unfork churn never rebuilds the table: its memory
// follows the live forks, not the events.
//
// Errors: insert and reserve throw std::bad_alloc when memory cannot be had
// (the table is then unchanged). Precondition: every key is a non-empty id
// of at most kMaxIdSize bytes. Lifetime: a value type; an iterator or slot
// pointer is invalidated by any insert, reserve or erase. Threads: const use
// from many threads, writes from one.
#pragma once

#include "projector/huge_page_allocator.h"
#include "projector/id.h"
#include "projector/id_equal.h"
#include "projector/id_hash.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace fj {

class ForkTable {
 public:
  // A live fork and its template's index; `for (const auto& [fork, index] :
  // table)` reads both.
  struct Slot {
    Id first;
    std::uint32_t second = 0;
  };

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Slot;
    using difference_type = std::ptrdiff_t;
    using pointer = const Slot*;
    using reference = const Slot&;

    const_iterator() noexcept = default;
    reference operator*() const noexcept { return *at_; }
    pointer operator->() const noexcept { return at_; }
    const_iterator& operator++() noexcept {
      ++at_;
      skip_empty();
      return *this;
    }
    const_iterator operator++(int) noexcept {
      const_iterator was = *this;
      ++*this;
      return was;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
      return a.at_ == b.at_;
    }

   private:
    friend class ForkTable;
    const_iterator(const Slot* at, const Slot* end) noexcept : at_(at), end_(end) {}
    void skip_empty() noexcept {
      while (at_ != end_ && at_->first.size() == 0) ++at_;
    }
    const Slot* at_ = nullptr;
    const Slot* end_ = nullptr;
  };

  ForkTable() noexcept = default;
  ForkTable(const ForkTable& other);
  ForkTable(ForkTable&& other) noexcept;
  ForkTable& operator=(const ForkTable& other);
  ForkTable& operator=(ForkTable&& other) noexcept;
  ~ForkTable();

  const_iterator find(std::string_view fork) const noexcept {
    if (size_ == 0) return end();
    const std::size_t i = probe(fork, IdHash{}(fork));
    return tags_[i] == kEmpty ? end() : const_iterator{slots_ + i, slots_ + capacity_};
  }
  bool contains(std::string_view fork) const noexcept { return find(fork) != end(); }
  const_iterator begin() const noexcept {
    const_iterator it{slots_, slots_ + capacity_};
    it.skip_empty();
    return it;
  }
  const_iterator end() const noexcept { return {slots_ + capacity_, slots_ + capacity_}; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t bucket_count() const noexcept { return capacity_; }
  // The position of the slot `it` points at, below bucket_count(): a key
  // for a side table of the entries. Precondition: it != end().
  std::size_t slot_of(const_iterator it) const noexcept {
    return static_cast<std::size_t>(it.at_ - slots_);
  }

  // Asks the processor to load the slot and the tag where a lookup of
  // `fork` starts; no effect on the table.
  void prefetch(std::string_view fork) const noexcept {
    if (capacity_ == 0) return;
    const std::size_t home = IdHash{}(fork)&mask_;
    const char* slot = reinterpret_cast<const char*>(slots_ + home);
    __builtin_prefetch(slot);
    __builtin_prefetch(slot + sizeof(Slot) - 1);  // a slot can straddle two cache lines
    __builtin_prefetch(tags_ + home);
  }

  // Adds fork -> index; false (and no change) if the fork is present.
  bool insert(std::string_view fork, std::uint32_t index);
  // Removes the fork `it` points at. Precondition: it != end().
  void erase(const_iterator it) noexcept;
  // Room for n forks at a load of at most a quarter: the smallest power of
  // two of at least 4n slots (at least 16).
  void reserve(std::size_t n);

 private:
  static constexpr std::uint8_t kEmpty = 0;
  // "Used" and the hash's top 7 bits (its low bits pick the slot).
  static std::uint8_t tag(std::size_t hash) noexcept {
    return static_cast<std::uint8_t>(0x80 | hash >> (8 * sizeof(std::size_t) - 7));
  }
  // The slot holding `fork`, or else the empty slot its probe ends at. Only
  // tags are read until one matches, so a new fork's slot is written, never
  // waited for. Precondition: capacity_ != 0 (a table at most a quarter
  // full always has an empty slot).
  std::size_t probe(std::string_view fork, std::size_t hash) const noexcept {
    std::size_t i = hash & mask_;
    while (tags_[i] != kEmpty &&
           !(tags_[i] == tag(hash) && IdEqual::same(slots_[i].first.view(), fork))) {
      i = (i + 1) & mask_;
    }
    return i;
  }
  // The first empty slot from the home of `hash`. Precondition: capacity_ != 0.
  std::size_t vacant(std::size_t hash) const noexcept {
    std::size_t i = hash & mask_;
    while (tags_[i] != kEmpty) i = (i + 1) & mask_;
    return i;
  }
  // Puts id -> index in the empty slot i.
  void place(std::size_t i, Id&& id, std::uint32_t index, std::size_t hash) noexcept;
  // Empty slots and tags for `capacity` (a power of two) in a table that
  // has none.
  void allocate(std::size_t capacity);
  // A table of `capacity` empty slots; the old one's entries moved in.
  void rebuild(std::size_t capacity);
  void release() noexcept;

  Slot* slots_ = nullptr;         // an empty slot holds an empty Id
  std::uint8_t* tags_ = nullptr;  // one per slot: kEmpty or tag(its key's hash)
  std::size_t capacity_ = 0;      // a power of two, or 0
  std::size_t mask_ = 0;          // capacity_ - 1
  std::size_t size_ = 0;
};

}  // namespace fj
