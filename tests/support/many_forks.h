// Appends many fork_added events to a journal through the library, a
// thousand per transaction without fsync, so that a test reaches past the
// chain checkpoints (every 4,096 seqs) in well under a second. Failures are
// GoogleTest failures. Opens the journal itself: call it while no other
// handle on the same journal is open in this process.
#pragma once

#include "projector/ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fj::testing {

// Forks "<prefix>0".."<prefix>count-1" of the registered template `tpl`.
inline void append_forks(const std::string& dir, const std::string& tpl, int count,
                         const std::string& prefix = "f") {
  auto journal = Journal::open(dir, JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(journal) << journal.error().message;
  auto ledger = Ledger::open(*journal);
  ASSERT_TRUE(ledger) << ledger.error().message;
  std::vector<Request> batch;
  for (int i = 0; i < count; ++i) {
    batch.push_back(Request{AddFork{tpl, prefix + std::to_string(i)}, {}});
    if (batch.size() == 1000 || i == count - 1) {
      auto done = ledger->execute_batch(batch, Origin::api);
      ASSERT_TRUE(done) << done.error().message;
      batch.clear();
    }
  }
}

}  // namespace fj::testing
