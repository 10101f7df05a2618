#include "fleet/fleet_view.h"

#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/stream.h"

#include <algorithm>
#include <map>

namespace fj::fleet {

Result<FleetView> read_fleet(const std::string& urls, std::chrono::milliseconds timeout) {
  nats::ConnectOptions options;
  options.timeout = timeout;
  auto conn = nats::Connection::open(urls, options);
  if (!conn) return conn.error();
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
                                      .body = nats::body(msg)});
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
