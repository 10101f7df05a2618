// The names of the fleet stream contract: every host ships its journal's
// events into one JetStream stream, one subject per journal, one message per
// event (README.md, Shipping to NATS; docs/decisions.md). Pure and
// header-only; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fj::fleet {

inline constexpr std::string_view kStreamName = "FORKJOURNAL";
// The stream's one subject filter; each journal publishes on kSubjectPrefix
// followed by its journal id (32 hex characters).
inline constexpr std::string_view kStreamSubjects = "forkjournal.events.>";
inline constexpr std::string_view kSubjectPrefix = "forkjournal.events.";

// Message headers. The body is the record's exact stored bytes.
inline constexpr std::string_view kSeqHeader = "Fj-Seq";          // decimal seq
inline constexpr std::string_view kJournalHeader = "Fj-Journal";  // journal id
inline constexpr std::string_view kHostHeader = "Fj-Host";        // the shipping host's name
inline constexpr std::string_view kChainHeader = "Fj-Chain";      // 64 hex: chain after the event

// The subject of one journal's events.
inline std::string subject_for(std::string_view journal_id) {
  return std::string(kSubjectPrefix) + std::string(journal_id);
}

// The JetStream message id (Nats-Msg-Id) of one event: "<journal id>:<seq>".
inline std::string message_id(std::string_view journal_id, std::uint64_t seq) {
  return std::string(journal_id) + ":" + std::to_string(seq);
}

}  // namespace fj::fleet
