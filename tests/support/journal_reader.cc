#include "support/journal_reader.h"

#include "journal/events.h"

#include "crashtest/invariants.h"
#include "journal/journal.h"
#include "projector/replay.h"

#include <sstream>

namespace fj::testing {

Replayed replay_journal(const std::string& dir) {
  Replayed out;
  auto journal = Journal::open(dir, JournalOptions{.read_only = true});
  if (!journal) {
    ADD_FAILURE() << "open " << dir << ": " << journal.error().message;
    return out;
  }
  if (auto head = journal->head()) out.head = *head;
  auto snap = journal->read([](Reader& r) { return r.snapshot_at_most(kHead); });
  if (snap && *snap) out.newest_snapshot = (*snap)->seq;
  auto state = replay(*journal);
  if (!state) {
    ADD_FAILURE() << "replay: " << state.error().message;
    return out;
  }
  out.state = std::move(*state);
  return out;
}

::testing::AssertionResult acked_forks_present(const std::string& dir, std::string_view tpl,
                                               const std::vector<AckedFork>& acks) {
  auto journal = Journal::open(dir, JournalOptions{.read_only = true});
  if (!journal) return ::testing::AssertionFailure() << "open: " << journal.error().message;
  auto head = journal->head();
  if (!head) return ::testing::AssertionFailure() << "head: " << head.error().message;
  std::vector<invariants::AckedEvent> events;
  events.reserve(acks.size());
  for (const AckedFork& a : acks) {
    events.push_back(
        {a.seq, EventType::fork_added, std::string(tpl), a.fork, "", "fork " + a.fork});
  }
  if (auto present = invariants::acknowledged_present(*journal, events, {.head = *head});
      !present) {
    return ::testing::AssertionFailure() << present.error().what;
  }
  auto state = replay(*journal);
  if (!state) return ::testing::AssertionFailure() << "replay: " << state.error().message;
  std::size_t bad = 0;
  std::ostringstream problems;
  for (const AckedFork& a : acks) {
    const Template* owner = state->owner(a.fork);
    if ((owner == nullptr || owner->id.view() != tpl) && ++bad <= 5) {
      problems << "\n  " << a.fork << " @" << a.seq;
    }
  }
  if (bad != 0) {
    return ::testing::AssertionFailure()
           << bad << " of " << acks.size() << " acknowledged forks not live in a replay"
           << problems.str();
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::pair<std::uint64_t, Event>> read_all(const Journal& journal, std::uint64_t from,
                                                      std::uint64_t to) {
  std::vector<std::pair<std::uint64_t, Event>> out;
  auto ok = journal.read([&](Reader& r) {
    return for_each_event(r, from, to, [&](std::uint64_t seq, const EventView& e) {
      out.emplace_back(seq, to_event(e));
    });
  });
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);
  return out;
}

}  // namespace fj::testing
