#include "support/ship_checks.h"

#include "fleet/fleet_view.h"
#include "fleet/internal/nats.h"
#include "fleet/stream.h"
#include "journal/chain.h"
#include "journal/hex.h"
#include "projector/replay.h"

#include <string_view>
#include <thread>
#include <vector>

namespace fj::testing {

void add_foreign_stream(const std::string& url, const std::string& subject, jsStorageType storage) {
  auto conn = fleet::nats::Connection::open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {subject.c_str()};
  cfg.Name = "FORKJOURNAL";
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = storage;
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_AddStream(&raw, conn->js(), &cfg, nullptr, &jerr), NATS_OK) << int(jerr);
  fleet::nats::StreamInfoPtr info(raw);
}

Journal make_journal(const std::string& dir) {
  auto j = Journal::create(dir, JournalOptions{.sync = SyncMode::none});
  EXPECT_TRUE(j) << j.error().message;
  return std::move(j).value();
}

void append_forks(Journal& journal, std::uint64_t count, std::uint64_t first) {
  std::vector<Event> events;
  for (std::uint64_t done = 0; done < count;) {
    events.clear();
    const std::uint64_t n = std::min<std::uint64_t>(1000, count - done);
    for (std::uint64_t i = 0; i < n; ++i) {
      Event e;
      e.type = EventType::fork_added;
      e.time_ns = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
      e.template_id = "tpl-ship";
      e.fork = "fork-" + std::to_string(first + done + i);
      events.push_back(std::move(e));
    }
    std::vector<EventView> views;
    for (const Event& e : events) views.push_back(view(e));
    auto r = journal.append(views);
    ASSERT_TRUE(r) << r.error().message;
    done += n;
  }
}

::testing::AssertionResult wait_shipped(const fleet::Shipper& shipper, std::uint64_t seq,
                                        std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto s = shipper.state();
    if (s.shipped_seq >= seq) return ::testing::AssertionSuccess();
    if (s.halted || std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure()
             << "shipped seq " << s.shipped_seq << ", not " << seq << (s.halted ? " (halted)" : "")
             << "; last error: " << s.last_error;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

::testing::AssertionResult wait_stream_seq(const std::string& urls, const std::string& journal_id,
                                           std::uint64_t seq,
                                           std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "never read";
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto conn = fleet::nats::Connection::open(urls)) {
      auto msg =
          fleet::nats::last_message(*conn, fleet::kStreamName, fleet::subject_for(journal_id));
      if (msg && *msg) {
        const auto text = fleet::nats::header(msg->value().get(), fleet::kSeqHeader.data());
        last = "last Fj-Seq " + std::string(text.value_or("none"));
        if (text && *text == std::to_string(seq)) return ::testing::AssertionSuccess();
      } else {
        last = msg ? "no message" : msg.error().message;
      }
    } else {
      last = conn.error().message;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ::testing::AssertionFailure() << "the stream did not reach seq " << seq << ": " << last;
}

::testing::AssertionResult stream_matches(const std::string& urls, const Journal& journal,
                                          const std::string& host, fleet::nats::Walk walk) {
  const std::string& id = journal.info().journal_id;
  std::vector<std::string> records;
  auto read = journal.read([&](Reader& r) -> Result<void> {
    return r.for_each(1, kHead, [&](std::uint64_t, std::string_view bytes) {
      records.emplace_back(bytes);
      return Result<void>();
    });
  });
  if (!read) return ::testing::AssertionFailure() << read.error().message;
  auto conn = fleet::nats::Connection::open(urls);
  if (!conn) return ::testing::AssertionFailure() << conn.error().message;

  std::uint64_t expected = 1;
  ChainHash chain = chain_seed(id);
  std::string problem;
  auto walked = fleet::nats::for_each_message(
      *conn, fleet::kStreamName, fleet::subject_for(id), 1,
      [&](natsMsg* msg, std::uint64_t stream_seq) -> Result<void> {
        const auto fail = [&](const std::string& why) {
          problem = "stream sequence " + std::to_string(stream_seq) + ": " + why;
          return make_error(Errc::invalid_argument, problem);
        };
        using fleet::nats::header;
        const std::string seq = std::to_string(expected);
        if (header(msg, fleet::kSeqHeader.data()) != std::string_view(seq))
          return fail("Fj-Seq " + std::string(header(msg, "Fj-Seq").value_or("none")) +
                      ", expected " + seq);
        if (expected > records.size()) return fail("seq " + seq + " is past the journal's head");
        const std::string& record = records[expected - 1];
        chain = chain_next(chain, expected, record);
        if (fleet::nats::body(msg) != record) return fail("body differs from the record");
        if (header(msg, fleet::kJournalHeader.data()) != std::string_view(id))
          return fail("Fj-Journal differs");
        if (header(msg, fleet::kHostHeader.data()) != std::string_view(host))
          return fail("Fj-Host " + std::string(header(msg, "Fj-Host").value_or("none")));
        if (header(msg, fleet::kChainHeader.data()) != std::string_view(to_hex(chain)))
          return fail("Fj-Chain differs at seq " + seq);
        if (header(msg, "Nats-Msg-Id") != std::string_view(fleet::message_id(id, expected)))
          return fail("Nats-Msg-Id differs");
        ++expected;
        return {};
      },
      walk);
  if (!walked) return ::testing::AssertionFailure() << walked.error().message;
  if (expected != records.size() + 1) {
    return ::testing::AssertionFailure()
           << "the stream holds seqs 1.." << expected - 1 << ", the journal 1.." << records.size();
  }
  // What `forkjournal fleet counts` shows for the journal is its own counts.
  auto view = fleet::read_fleet(urls);
  if (!view) return ::testing::AssertionFailure() << "fleet view: " << view.error().message;
  const fleet::JournalFold* fold = nullptr;
  for (const auto& f : view->journals) {
    if (f.journal_id() == id) fold = &f;
  }
  if (fold == nullptr)
    return ::testing::AssertionFailure() << "the fleet view has no journal " << id;
  if (fold->broken()) {
    return ::testing::AssertionFailure() << "the fleet view breaks at seq " << fold->broken()->seq
                                         << ": " << fold->broken()->detail;
  }
  auto own = replay(journal);
  if (!own) return ::testing::AssertionFailure() << "replay: " << own.error().message;
  if (!(fold->state() == *own)) {
    return ::testing::AssertionFailure()
           << "the fleet view's projection of " << id << " (seq " << fold->head_seq() << ", "
           << fold->state().live_fork_count() << " live forks) differs from the journal's own (seq "
           << own->seq() << ", " << own->live_fork_count() << " live forks)";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace fj::testing
