// One journal's messages in the fleet stream folded into what they prove:
// the seqs they hold (gap-free from the first shipped), every record decoded
// with its checksum checked, the Fj-Chain header recomputed, the headers
// consistent with the subject and the body, and the projection rebuilt with
// the same decode and evolve as a local replay (projector/projection.h).
// Pure: no NATS, no clock; fed one message at a time in stream order.
//
// The first problem breaks the fold: the messages after it are counted but
// not applied, so no count is ever served past a damaged point (as a local
// replay stops at a corrupt record).
//
// Threads: one fold per thread; const members may be shared once folding is
// done. Lifetime: add() copies what it keeps; the views it receives may die
// after the call.
#pragma once

#include "journal/chain.h"
#include "projector/projection.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fj::fleet {

// One stream message as the fold reads it. The headers are nullopt when
// the message does not carry them.
struct ShippedMessage {
  std::uint64_t stream_seq = 0;
  std::optional<std::string_view> seq;      // Fj-Seq
  std::optional<std::string_view> journal;  // Fj-Journal
  std::optional<std::string_view> host;     // Fj-Host
  std::optional<std::string_view> chain;    // Fj-Chain
  std::optional<std::string_view> msg_id;   // Nats-Msg-Id
  std::string_view body;
  // The first of those headers the message carries more than once (empty:
  // none): which of the values counts is up to each reader, so such a
  // message is malformed.
  std::string_view repeated_header;
};

// Where and why a journal's messages stop proving anything. `detail` is
// printable (fj::printable in journal/ids.h).
struct FoldBreak {
  std::uint64_t seq = 0;         // the journal seq at fault (the one expected at a gap)
  std::uint64_t stream_seq = 0;  // the message that showed it
  std::string detail;
};

// The journal id a subject names (the part after kSubjectPrefix), or nullopt
// for a subject outside the contract's prefix.
std::optional<std::string_view> journal_of_subject(std::string_view subject);

class JournalFold {
 public:
  // The fold of the subject for `journal_id` (as the subject spells it; an id
  // that is not 32 hex characters breaks the fold at its first message).
  explicit JournalFold(std::string journal_id);

  // Folds the next message on the journal's subject, in stream order.
  void add(const ShippedMessage& m);

  const std::string& journal_id() const noexcept { return journal_id_; }
  std::uint64_t messages() const noexcept { return messages_; }  // all added, also past a break
  // The first shipped seq (0: none); greater than 1 only when the stream
  // lost its oldest messages (a purge), which leaves the counts partial.
  std::uint64_t first_seq() const noexcept { return first_seq_; }
  // The last seq that checked out (0: none).
  std::uint64_t head_seq() const noexcept { return state_.seq(); }
  // True when the chain was recomputed from chain_seed (the stream starts at
  // seq 1); false when it starts later and the first message's Fj-Chain was
  // taken as given.
  bool chain_from_seed() const noexcept { return first_seq_ == 1; }
  // The chain value after head_seq().
  const ChainHash& chain() const noexcept { return chain_; }
  const std::string& host() const noexcept { return host_; }  // of the message at head_seq()
  const Projection& state() const noexcept { return state_; }
  const std::optional<FoldBreak>& broken() const noexcept { return broken_; }

 private:
  void fail(std::uint64_t seq, std::uint64_t stream_seq, std::string detail);

  std::string journal_id_;
  std::uint64_t messages_ = 0;
  std::uint64_t first_seq_ = 0;
  ChainHash chain_{};
  std::string host_;
  Projection state_;
  std::optional<FoldBreak> broken_;
  EventView event_;  // reused for every decode
};

}  // namespace fj::fleet
