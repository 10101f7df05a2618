#include "journal/internal/open_claim.h"

#include <pthread.h>
#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

namespace fj {
namespace {

using Key = std::pair<dev_t, ino_t>;

struct Claims {
  std::mutex mutex;
  std::set<Key> held;
  // Bumped in each child of fork(): a claim made before the fork (in an
  // inherited Journal) is not the child's to release.
  std::uint64_t generation = 0;
};

Claims& claims();

// A child of fork() holds none of its parent's LMDB locks (record locks are
// not inherited) and must not use its parent's Journals: it starts with no
// claims, so that it may open a journal its parent has open. The table is
// locked across the fork so that the child never inherits it mid-change.
void lock_for_fork() {
  claims().mutex.lock();
}
void unlock_in_parent() {
  claims().mutex.unlock();
}
void clear_in_child() {
  claims().held.clear();
  ++claims().generation;
  claims().mutex.unlock();
}

Claims& claims() {
  // Never destroyed: a Journal held in a static may be destroyed after it.
  static Claims* c = [] {
    auto* made = new Claims;
    ::pthread_atfork(lock_for_fork, unlock_in_parent, clear_in_child);
    return made;
  }();
  return *c;
}

// Set up at load time, not at the first open: a fork() during that first
// set-up would leave the child waiting on the half-initialised static.
[[maybe_unused]] const bool set_up_at_load = (claims(), true);

bool key_of(const std::string& dir, Key& key) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  key = {st.st_dev, st.st_ino};
  return true;
}

}  // namespace

OpenClaim& OpenClaim::operator=(OpenClaim&& other) noexcept {
  if (this != &other) {
    release();
    held_ = std::exchange(other.held_, false);
    generation_ = other.generation_;
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

Result<OpenClaim> OpenClaim::take(const std::string& dir) {
  OpenClaim claim;
  Key key;
  if (!key_of(dir, key)) return claim;
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  if (!c.held.insert(key).second) {
    return make_error(Errc::invalid_argument,
                      "journal " + dir +
                          " is already open in this process: LMDB allows one open of a journal "
                          "per process (a second one, once closed, drops the first one's "
                          "locks); share the open Journal");
  }
  claim.held_ = true;
  claim.generation_ = c.generation;
  claim.dev_ = key.first;
  claim.ino_ = key.second;
  return claim;
}

void OpenClaim::release() noexcept {
  if (!held_) return;
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  if (generation_ == c.generation) c.held.erase({dev_, ino_});
  held_ = false;
}

}  // namespace fj
