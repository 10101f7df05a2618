// Reads a journal the way an observer beside a writer does: opened read-only
// for the one call and closed again, so it works beside a running daemon or
// after it died. Failures to open or read are GoogleTest failures (or failed
// assertions), never exceptions. Each call is independent.
#pragma once

#include "journal/event.h"
#include "journal/journal.h"
#include "projector/projection.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fj::testing {

// The journal's head and its projection by full replay.
struct Replayed {
  std::uint64_t head = 0;
  std::uint64_t newest_snapshot = 0;  // 0: none stored
  std::optional<Projection> state;    // empty after a test failure
};

Replayed replay_journal(const std::string& dir);

// A fork a writer was told is stored at `seq`.
struct AckedFork {
  std::string fork;
  std::uint64_t seq = 0;
};

// Every acknowledged fork is stored at its seq as fork_added under `tpl`, no
// two share a seq, and each is live under `tpl` in a full replay.
::testing::AssertionResult acked_forks_present(const std::string& dir, std::string_view tpl,
                                               const std::vector<AckedFork>& acks);

// Every event of an open journal with 0 < from <= seq <= to, decoded (a
// failed read is a GoogleTest failure and ends the list where it stopped).
std::vector<std::pair<std::uint64_t, Event>> read_all(const Journal& journal,
                                                      std::uint64_t from = 1,
                                                      std::uint64_t to = kHead);

}  // namespace fj::testing
