// Id: an event's template, source or fork id as the projection keeps it.
// Errors: none (the caller guarantees the size). Lifetime: a value type; a
// view() lives as long as the Id it came from and is invalidated by
// assignment or destruction. Threads: as a std::string (const use from many
// threads, writes from one).
#pragma once

#include "journal/ids.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fj {

// An id of at most kMaxIdSize bytes in 32 bytes: up to kInline bytes inline
// (the VM manager's ids are 24), longer ones on the heap. The fork table's
// slots are then 36 bytes instead of 72, which keeps more of the table in the
// L2 cache during a replay. The last byte holds the size; a longer id keeps
// its heap pointer in the first eight.
class Id {
 public:
  static constexpr std::size_t kInline = 31;

  Id() noexcept { bytes_[kInline] = 0; }
  // Precondition: s.size() <= kMaxIdSize (the codec and validation ensure it).
  explicit Id(std::string_view s) { assign(s); }
  Id(const Id& other) { assign(other.view()); }
  Id(Id&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof bytes_);
    other.bytes_[kInline] = 0;  // the heap block, if any, is ours now
  }
  Id& operator=(const Id& other) {
    if (this != &other) *this = Id(other);
    return *this;
  }
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      release();
      std::memcpy(bytes_, other.bytes_, sizeof bytes_);
      other.bytes_[kInline] = 0;
    }
    return *this;
  }
  ~Id() { release(); }

  std::size_t size() const noexcept { return static_cast<std::uint8_t>(bytes_[kInline]); }
  std::string_view view() const noexcept { return {size() <= kInline ? bytes_ : heap(), size()}; }
  std::string str() const { return std::string(view()); }
  friend bool operator==(const Id& a, const Id& b) noexcept { return a.view() == b.view(); }

 private:
  void assign(std::string_view s) {
    if (s.size() <= kInline) {
      if (!s.empty()) std::memcpy(bytes_, s.data(), s.size());
    } else {
      char* block = new char[s.size()];
      std::memcpy(block, s.data(), s.size());
      std::memcpy(bytes_, &block, sizeof block);
    }
    bytes_[kInline] = static_cast<char>(s.size());
  }
  char* heap() const noexcept {
    char* block;
    std::memcpy(&block, bytes_, sizeof block);
    return block;
  }
  void release() noexcept {
    if (size() > kInline) delete[] heap();
    bytes_[kInline] = 0;
  }

  char bytes_[kInline + 1];
};
static_assert(sizeof(Id) == 32);

}  // namespace fj
