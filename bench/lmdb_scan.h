// The floor no replay can beat: a bare LMDB cursor scan over a journal's
// events database that reads every key and value byte and does nothing else.
// Uses the LMDB C API directly (no project wrappers, no decode).
#pragma once

#include "journal/error.h"

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <string>

namespace fj::bench {

struct ScanResult {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // key and value bytes read
  std::uint64_t fold = 0;   // a fold of every byte, so the reads cannot be optimised away
};

// Folds every byte of [data, data + size) into `acc`, eight bytes at a time.
std::uint64_t fold_bytes(std::uint64_t acc, const void* data, std::size_t size) noexcept;

class LmdbScan {
 public:
  // Opens the environment at `dir` read-only, with MDB_NOLOCK: the harness
  // keeps an fj::Journal open on the same directory, and LMDB's lock file
  // must be opened only once per process (closing a second descriptor on it
  // would drop the first one's fcntl locks; lmdb.h, "Caveats"). Without the
  // lock file this scan must not run beside a writer; the harness has none.
  static Result<LmdbScan> open(const std::string& dir);

  // One scan in one read transaction.
  Result<ScanResult> scan() const;

 private:
  struct EnvClose {
    void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
  };
  LmdbScan(std::unique_ptr<MDB_env, EnvClose> env, MDB_dbi events)
      : env_(std::move(env)), events_(events) {}

  std::unique_ptr<MDB_env, EnvClose> env_;
  MDB_dbi events_ = 0;
};

}  // namespace fj::bench
