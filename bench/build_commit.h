// The commit forkjournal-bench was built from, for its reports.
#pragma once

#include <string_view>

namespace fj::bench {

// `git rev-parse --short HEAD` of the source tree when the harness was last
// built, "-dirty" appended when tracked files had changes; "unknown" when the
// tree is not a git checkout. Defined in a file generated at every build
// (bench/build_commit.cmake). Never fails; the view is static.
std::string_view build_commit() noexcept;

}  // namespace fj::bench
