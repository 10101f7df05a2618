// Invariants a journal must satisfy after any writer died at any moment
// (kill -9 included): the crash loop checks them after every kill, and the
// stress and daemon tests after their runs. Each check reads the Journal it is
// given in its own read transactions (only snapshot_round_trip writes), and
// returns the first violation it finds as one sentence naming the seq at
// fault; a journal that cannot be read at all is a violation too. No state is
// kept between calls; thread-safe as the Journal is.
#pragma once

#include "journal/journal.h"
#include "projector/audit.h"
#include "projector/ledger.h"

#include <boost/system/result.hpp>

#include <cstdint>
#include <span>
#include <string>

namespace fj::invariants {

// What a check found broken.
struct Violation {
  std::string what;
};

// Used by Checked<T>::value() when it holds a violation: throws
// std::runtime_error(what).
[[noreturn]] void throw_exception_from_error(const Violation& v, const boost::source_location& loc);

template <class T = void>
using Checked = boost::system::result<T, Violation>;

// The audit finds nothing; given options.expect_head, the head did not go
// back before it either. Returns the audit's report (head seq, chain head).
Checked<AuditReport> clean_audit(const Journal& journal, const AuditOptions& options = {});

// An event a writer was told is stored at `seq`, with origin api.
struct AckedEvent {
  std::uint64_t seq = 0;
  EventType type{};
  std::string template_id;
  std::string fork;    // empty when the type has none
  std::string source;  // empty unless template_registered
  std::string label;   // names it in a violation ("request r0.1.7")
};

// The seqs acknowledgements may lie in: after+1 .. head.
struct AckWindow {
  std::uint64_t after = 0;
  std::uint64_t head = 0;
  std::string name = "the checked seqs";  // a violation says "lies outside <name>"
  // Every seq of the window must be acknowledged: for runs in which no writer
  // died and nothing else appended.
  bool complete = false;
};

// Every acknowledged event lies in the window, is claimed by one
// acknowledgement only, and the record at its seq decodes to exactly it.
Checked<> acknowledged_present(const Journal& journal, std::span<const AckedEvent> acks,
                               const AckWindow& window);

struct Loaded {
  Projection replayed;  // the full replay to the head
  LoadReport load;      // how load() got there
};

// load() (newest snapshot + tail) equals a full replay to `head`, which is the
// journal's head; no stored snapshot is ignored; the replay has no anomaly.
Checked<Loaded> load_matches_replay(const Journal& journal, std::uint64_t head);

// load() equals `expected`, a projection to `head` (the journal's head) the
// caller verified otherwise, e.g. by an audit; no stored snapshot is ignored;
// `expected` has no anomaly. Costs a snapshot decode and the tail after it,
// not a replay of the whole journal.
Checked<LoadReport> load_matches(const Journal& journal, std::uint64_t head,
                                 const Projection& expected);

// A reconcile run a writer was told committed: corrections and sweeps at
// first .. last-1, its reconcile_run marker at last.
struct AckedRun {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint32_t corrections = 0;
  std::uint32_t swept = 0;
};

struct RunsInLog {
  std::uint64_t runs = 0;         // reconcile_run markers in the window
  std::uint64_t corrections = 0;  // corrections and sweeps they close
};

// Reconcile runs in after+1 .. head are all there or not at all: every
// correction and sweep sits in one block directly before a reconcile_run
// marker whose counts match it and whose based_on_seq precedes it, and every
// acknowledged run is in the log as acknowledged.
Checked<RunsInLog> reconcile_runs_whole(const Journal& journal, std::uint64_t after,
                                        std::uint64_t head, std::span<const AckedRun> acked);

// A snapshot written now lands at `head` and load() uses it to give back
// `replayed`. Writes one snapshot (needs a writable journal).
Checked<> snapshot_round_trip(Journal& journal, std::uint64_t head, const Projection& replayed);

}  // namespace fj::invariants
