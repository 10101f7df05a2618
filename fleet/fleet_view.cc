#include "fleet/fleet_view.h"

#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/stream.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <string_view>

namespace fj::fleet {
namespace {

// Whether the subject filter `filter` takes every subject kStreamSubjects
// does: token by token a literal match or '*', until a '>' that stands
// where kStreamSubjects still has tokens to match.
bool covers_fleet_subjects(std::string_view filter) {
  constexpr std::array<std::string_view, 2> kLiteral{"forkjournal", "events"};
  std::size_t i = 0;
  for (std::size_t start = 0;; ++i) {
    const std::size_t dot = filter.find('.', start);
    const std::string_view token = filter.substr(start, dot - start);
    if (token == ">") return dot == std::string_view::npos;
    // kStreamSubjects ends in '>': only '>' takes all of what follows.
    if (i >= kLiteral.size()) return false;
    if (token != "*" && token != kLiteral[i]) return false;
    if (dot == std::string_view::npos) return false;
    start = dot + 1;
  }
}

// A stream named kStreamName whose subjects miss some journal's subject is
// not the fleet stream: reading it would report "ok" for a fleet it does not
// hold. Errors: invalid_argument, naming its subjects; a failure to read its
// configuration is left to the read that follows, which says it better.
Result<void> check_fleet_subjects(const nats::Connection& conn) {
  const std::string name(kStreamName);
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  if (js_GetStreamInfo(&raw, conn.js(), name.c_str(), nullptr, &jerr) != NATS_OK) return {};
  nats::StreamInfoPtr info(raw);
  const jsStreamConfig& config = *info->Config;
  std::string subjects;
  for (int i = 0; i < config.SubjectsLen; ++i) {
    if (covers_fleet_subjects(config.Subjects[i])) return {};
    if (i < 4) subjects += (i == 0 ? "" : " ") + std::string(config.Subjects[i]);
  }
  if (config.SubjectsLen > 4)
    subjects += " and " + std::to_string(config.SubjectsLen - 4) + " more";
  if (subjects.empty()) subjects = "none";
  return make_error(Errc::invalid_argument,
                    "stream " + name + " takes subjects " + subjects + ", which do not cover " +
                        std::string(kStreamSubjects) +
                        ": it is not the fleet stream (run 'forkjournal fleet init' to see what "
                        "differs; fix its subjects with 'nats stream edit " +
                        name + "')");
}

// The first of the headers the fold reads that `msg` carries more than once
// (empty: none).
std::string_view repeated_header(natsMsg* msg) {
  static const std::array<std::string_view, 5> kRead{kSeqHeader, kJournalHeader, kHostHeader,
                                                     kChainHeader, "Nats-Msg-Id"};
  for (const std::string_view key : kRead) {
    const char** values = nullptr;
    int count = 0;
    if (natsMsgHeader_Values(msg, key.data(), &values, &count) != NATS_OK) continue;
    std::free(values);
    if (count > 1) return key;
  }
  return {};
}

}  // namespace

Result<FleetView> read_fleet(const std::string& urls, std::chrono::milliseconds timeout) {
  nats::ConnectOptions options;
  options.timeout = timeout;
  auto conn = nats::Connection::open(urls, options);
  if (!conn) return conn.error();
  if (auto ok = check_fleet_subjects(*conn); !ok) return ok.error();
  std::map<std::string, JournalFold, std::less<>> folds;
  auto read = nats::for_each_in_stream(
      *conn, kStreamName, {}, [&](natsMsg* msg, std::uint64_t stream_seq) -> Result<void> {
        const std::string_view subject = natsMsg_GetSubject(msg);
        // The stream takes only kStreamSubjects; anything else is folded
        // under its full subject, which no journal id matches.
        const std::string_view id = journal_of_subject(subject).value_or(subject);
        auto it = folds.find(id);
        if (it == folds.end())
          it = folds.emplace(std::string(id), JournalFold(std::string(id))).first;
        using nats::header;
        it->second.add(ShippedMessage{.stream_seq = stream_seq,
                                      .seq = header(msg, kSeqHeader.data()),
                                      .journal = header(msg, kJournalHeader.data()),
                                      .host = header(msg, kHostHeader.data()),
                                      .chain = header(msg, kChainHeader.data()),
                                      .msg_id = header(msg, "Nats-Msg-Id"),
                                      .body = nats::body(msg),
                                      .repeated_header = repeated_header(msg)});
        return {};
      });
  if (!read) return read.error();
  FleetView view;
  view.messages = *read;
  view.journals.reserve(folds.size());
  for (auto& [id, fold] : folds) view.journals.push_back(std::move(fold));
  return view;
}

}  // namespace fj::fleet
