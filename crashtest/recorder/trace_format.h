// The write trace the recorder (recorder.cc, an LD_PRELOAD library) writes
// and the power-loss explorer reads: a file that starts with kTraceMagic and
// then holds one TraceOp header per recorded operation, each followed by
// `payload` bytes. Host byte order: a trace is read on the machine that
// wrote it, by the same build.
//
// Files are named relative to the recorded directory; `file` is a small id
// the recorder gives each name the first time it is opened, so that writes
// need not repeat it. Only operations that succeeded are recorded, except
// syncs, which are recorded either way (flag kFailed) because a failed sync
// makes nothing durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fj::record {

inline constexpr std::string_view kTraceMagic{"FJTRACE1", 8};

enum class OpKind : std::uint32_t {
  open = 1,         // payload: the name ("." for the directory); flags: open(2) flags;
                    // offset: kOpenCreated when the open created the name
  write = 2,        // offset; payload: the bytes written (one iovec of a writev)
  sync = 3,         // fsync/fdatasync/msync of `file`; flags: kFailed
  truncate = 4,     // offset: the new size
  rename = 5,       // payload: "from\0to"; a name outside the directory is empty
  unlink = 6,       // payload: the name
  dir_sync = 7,     // fsync of the directory itself; flags: kFailed
  sync_all = 8,     // sync(2) or syncfs(2)
  mark = 9,         // payload: text the workload wrote (fj_record_mark)
  shared_map = 10,  // `file` was mapped writable and shared: writes the trace cannot see
};

inline constexpr std::uint32_t kDsync = 1u << 0;   // write flag: through an O_DSYNC/O_SYNC fd
inline constexpr std::uint32_t kFailed = 1u << 2;  // sync flag: the call failed
inline constexpr std::uint64_t kOpenCreated = 1;   // open offset: the name did not exist

struct TraceOp {
  OpKind kind{};
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
  std::uint32_t flags = 0;
  std::uint32_t payload = 0;  // bytes that follow this header
};
static_assert(sizeof(TraceOp) == 24);

}  // namespace fj::record

// The recorder's one exported function, for the recorded program to mark a
// point in the trace (an acknowledgement). Look it up with
// dlsym(RTLD_DEFAULT, "fj_record_mark"): it is absent when the recorder is
// not loaded. Thread-safe; ordered with the recorded operations.
extern "C" void fj_record_mark(const char* text, std::size_t length);
