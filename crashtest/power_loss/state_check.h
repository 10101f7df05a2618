// Checks one crash state the way a person would meet it after the power came
// back: open it read-only, audit it, replay it; then boot it the way the
// daemon does (open or create, newest snapshot + tail, a boot snapshot); and
// compare both with what the workload was told (its acknowledgements) and
// with the fork counts the complete recording reached at the same seq.
//
// Errors: none returned; what a state does wrong is in its Verdict. A state a
// check cannot open is `refused` with the typed error (stage, code, message).
// Threads: check_state opens the journal in the calling process; run it in a
// process of its own (LMDB may abort on pages no check covers).
#pragma once

#include "journal/event.h"
#include "projector/projection.h"

#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fj::power_loss {

// An event the workload was told is durable (workload.h's "A" mark).
struct Ack {
  std::uint64_t seq = 0;
  EventType type{};
  Origin origin{};
  std::string template_id, fork, source;
};

// Parses an "A" mark; nothing for any other mark.
std::optional<Ack> parse_ack(std::string_view mark);

// The fork counts (templates, states, counts, live forks) as one number.
std::uint64_t digest(const Projection& p);

// The complete recording's journal replayed: its digest after every seq.
class Reference {
 public:
  // Errors: a one-line message when the journal cannot be read or replayed.
  static boost::system::result<Reference, std::string> build(const std::string& journal);
  std::uint64_t head() const { return digests_.size() - 1; }
  std::uint64_t digest_at(std::uint64_t seq) const { return digests_[seq]; }

 private:
  std::vector<std::uint64_t> digests_;  // [0] the empty projection
};

struct Verdict {
  bool opened = false;       // read-only: opened, audited clean, replayed
  bool booted = false;       // the daemon's boot succeeded
  std::string refused;       // empty, or the first typed error: "<stage>: <code>: <message>"
  std::string boot_refused;  // empty, or the boot's typed error
  std::uint64_t head = 0;    // the read-only head (the boot's when it did not open)
  std::uint64_t acked = 0;   // acknowledgements the state must hold
  std::uint64_t acked_lost = 0;
  bool wrong_count = false;
  std::string problem;  // the first lost acknowledgement or wrong count, one line
};

// `stage`, when given, is called as each stage begins ("read-only open",
// "audit", "replay", "reading acknowledged seqs", "boot"), so that whoever
// sees the checking process die can say in which.
Verdict check_state(const std::string& dir, std::span<const Ack> acks, const Reference& reference,
                    const std::function<void(std::string_view)>& stage = {});

// One line for the pipe between a checking process and the explorer, and back.
std::string to_line(const Verdict& v);
std::optional<Verdict> from_line(std::string_view line);

}  // namespace fj::power_loss
