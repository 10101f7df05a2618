// A generated VM-manager data root in the hypeman layout, for the scan
// command: what fj::gc::scan reads on a host with N instances.
//
//   <root>/guests/<id>/metadata.json                       {"Id", "Name", "IsTemplate",
//                                                           "TemplateID", "ForkOfTemplate"}
//   <root>/guests/<id>/snapshots/snapshot-latest/memory    the memory file
//   <root>/templates/<tid>/template.json                   {"id", "name",
//                                                           "source_instance_id", "fork_count"}
//
// Each template has a source instance ("IsTemplate": true, "TemplateID") whose
// memory is a 4 KiB regular file; every fork's memory is a symlink to the
// absolute path of its template source's memory, or a hard link to it; plain
// instances (kPlainPercent of them) have a private 4 KiB memory file. Forks
// are spread evenly over the templates. Ids: 24 characters of [a-z0-9].
#pragma once

#include "bench/measure.h"
#include "journal/error.h"

#include <cstdint>
#include <string>

namespace fj::bench {

enum class MemoryLinks : std::uint8_t { symlink, hardlink };

inline constexpr std::uint64_t kPlainPercent = 3;
inline constexpr std::size_t kMemoryFileBytes = 4096;

struct DataRootSpec {
  std::uint64_t instances = 100'000;  // every entry under guests/
  std::uint32_t templates = 100;      // each with one of the instances as its source
  MemoryLinks links = MemoryLinks::symlink;
  std::uint64_t seed = 0x7363616e;
};

// What the root holds; instances = templates + forks + plain.
struct DataRootCounts {
  std::uint64_t instances = 0;
  std::uint64_t templates = 0;
  std::uint64_t forks = 0;
  std::uint64_t plain = 0;
};

// The counts `spec` implies; invalid_argument when the instances cannot hold
// one source per template.
Result<DataRootCounts> plan_data_root(const DataRootSpec& spec);

// Creates the layout under `root` (an existing, empty, absolute directory).
// Errors name the step and the path.
Result<DataRootCounts> build_data_root(const std::string& root, const DataRootSpec& spec,
                                       Progress& progress);

}  // namespace fj::bench
