// `forkjournal export` through the binary: NDJSON with one object per event
// (the same lines as `log --json`), seq ranges, range and corruption errors,
// and a journal another process is appending to.
#include "journal/internal/crc32c.h"
#include "projector/ledger.h"
#include "support/many_forks.h"
#include "support/process.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using fj::testing::Exited;
using fj::testing::TempDir;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class ExportTest : public ::testing::Test {
 protected:
  Exited fj(std::vector<std::string> args) {
    args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal_, "--sync", "none"});
    return fj::testing::run(args);
  }

  void ok(const std::vector<std::string>& args) {
    const Exited r = fj(args);
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  // Six events: two templates, forks and an unfork.
  void six_events() {
    ok({"init"});
    ok({"register", "t1", "--source", "s1", "--name", "web"});
    ok({"fork", "t1", "f1"});
    ok({"fork", "t1", "f2"});
    ok({"unfork", "t1", "f1"});
    ok({"register", "t2", "--source", "s2"});
    ok({"fork", "t2", "f3"});
  }

  // Parses every line of an export; each must be a JSON object.
  std::vector<json::object> parse(const std::string& out) {
    std::vector<json::object> events;
    for (const std::string& line : split_lines(out)) {
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      if (ec || !v.is_object()) {
        ADD_FAILURE() << "not a JSON object: " << line;
        continue;
      }
      events.push_back(v.as_object());
    }
    return events;
  }

  std::vector<std::uint64_t> seqs(const std::string& out) {
    std::vector<std::uint64_t> s;
    for (const json::object& e : parse(out)) s.push_back(e.at("seq").to_number<std::uint64_t>());
    return s;
  }

  void expect_usage_error(const std::vector<std::string>& args, const std::string& err) {
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(r.err, err) << r;
  }

  TempDir dir_;
  std::string journal_ = dir_.sub("journal");
};

TEST_F(ExportTest, EveryEventIsOneJsonObjectWithItsSeqAndFields) {
  six_events();
  const Exited r = fj({"export"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.err, "");
  const std::vector<json::object> events = parse(r.out);
  ASSERT_EQ(events.size(), 6u) << r;

  const std::vector<json::object> expected = {
      {{"seq", 1},
       {"type", "template_registered"},
       {"template", "t1"},
       {"source", "s1"},
       {"name", "web"}},
      {{"seq", 2}, {"type", "fork_added"}, {"template", "t1"}, {"fork", "f1"}},
      {{"seq", 3}, {"type", "fork_added"}, {"template", "t1"}, {"fork", "f2"}},
      {{"seq", 4}, {"type", "fork_removed"}, {"template", "t1"}, {"fork", "f1"}},
      {{"seq", 5},
       {"type", "template_registered"},
       {"template", "t2"},
       {"source", "s2"},
       {"name", ""}},
      {{"seq", 6}, {"type", "fork_added"}, {"template", "t2"}, {"fork", "f3"}},
  };
  const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$)");
  const Exited stats = fj({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats;
  const json::value journal_id = json::parse(stats.out).at("journal_id");
  const Exited audit = fj({"audit", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << audit;
  const std::regex hex64("^[0-9a-f]{64}$");
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json::object& e = events[i];
    for (const auto& [key, value] : expected[i]) {
      ASSERT_TRUE(e.contains(key)) << key << " missing in " << e;
      EXPECT_EQ(e.at(key), value) << key << " of " << e;
    }
    EXPECT_EQ(e.at("origin"), "cli") << e;
    ASSERT_TRUE(e.at("time").is_string()) << e;
    EXPECT_TRUE(std::regex_match(std::string(e.at("time").as_string()), rfc3339)) << e;
    // The journal and the hash chain's value after the event.
    EXPECT_EQ(e.at("journal"), journal_id) << e;
    ASSERT_TRUE(e.at("chain").is_string()) << e;
    EXPECT_TRUE(std::regex_match(std::string(e.at("chain").as_string()), hex64)) << e;
    // Only the stable fields: seq, type, time, origin, journal, chain and the
    // event's own.
    EXPECT_EQ(e.size(), expected[i].size() + 4) << e;
  }
  // The last line's chain is the journal's chain head, as audit proves it.
  EXPECT_EQ(events.back().at("chain"), json::parse(audit.out).at("chain_head"));
  // Each chain value differs: each covers its own event.
  EXPECT_NE(events[0].at("chain"), events[1].at("chain"));

  // The same objects as `log --json` plus journal and chain: one rendering.
  const Exited log = fj({"log", "--json"});
  ASSERT_EQ(log.exit_code, 0) << log;
  std::vector<json::object> logged = parse(log.out);
  ASSERT_EQ(logged.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    json::object stripped = events[i];
    stripped.erase("journal");
    stripped.erase("chain");
    EXPECT_EQ(stripped, logged[i]) << i;
  }
}

TEST_F(ExportTest, ExitedgesSelectTheirSeqs) {
  six_events();
  using Seqs = std::vector<std::uint64_t>;
  EXPECT_EQ(seqs(fj({"export", "--from", "2", "--to", "4"}).out), (Seqs{2, 3, 4}));
  EXPECT_EQ(seqs(fj({"export", "--from", "5"}).out), (Seqs{5, 6}));
  EXPECT_EQ(seqs(fj({"export", "--to", "2"}).out), (Seqs{1, 2}));
  EXPECT_EQ(seqs(fj({"export", "--from", "6", "--to", "6"}).out), (Seqs{6}));
  EXPECT_EQ(seqs(fj({"export", "--from", "1", "--to", "6"}).out), (Seqs{1, 2, 3, 4, 5, 6}));
}

TEST_F(ExportTest, BadExitedgesAreOneLineUsageErrors) {
  six_events();
  expect_usage_error({"export", "--from", "4", "--to", "2"},
                     "forkjournal: --from 4 is after --to 2 (the head is seq 6)\n");
  expect_usage_error({"export", "--from", "9", "--to", "8"},
                     "forkjournal: --from 9 is after --to 8 (the head is seq 6)\n");
  expect_usage_error({"export", "--to", "7"}, "forkjournal: --to 7 is beyond the head (seq 6)\n");
  expect_usage_error({"export", "--from", "7"},
                     "forkjournal: --from 7 is beyond the head (seq 6)\n");
  expect_usage_error({"export", "--from", "2", "--to", "99"},
                     "forkjournal: --to 99 is beyond the head (seq 6)\n");
  for (const std::string bad : {"0", "-1", "x", "0x2", "1.5"}) {
    const Exited r = fj({"export", "--from", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r;
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(r.err.starts_with("forkjournal: --from")) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  }
}

TEST_F(ExportTest, AnEmptyJournalExportsNothingAndHasNoSeqOne) {
  ok({"init"});
  const Exited r = fj({"export"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  expect_usage_error({"export", "--from", "1"},
                     "forkjournal: --from 1 is beyond the head (seq 0)\n");
}

TEST_F(ExportTest, AMissingJournalIsAnErrorAndNothingIsCreated) {
  const Exited r = fj({"export"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("forkjournal: ")) << r;
  EXPECT_FALSE(std::filesystem::exists(journal_));
}

TEST_F(ExportTest, ACorruptRecordStopsTheExportNamingItsSeq) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  ok({"fork", "t1", "f1"});
  ok({"fork", "t1", "frkcorruptmarker"});
  ok({"fork", "t1", "f2"});
  // Flip a bit of the id in every copy LMDB keeps of seq 3's record.
  const std::string path = journal_ + "/data.mdb";
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t flipped = 0;
  for (auto at = data.find("frkcorruptmarker"); at != std::string::npos;
       at = data.find("frkcorruptmarker", at + 1)) {
    data[at] = static_cast<char>(data[at] ^ 0x10);
    ++flipped;
  }
  ASSERT_GT(flipped, 0u);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;

  const Exited r = fj({"export"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(seqs(r.out), (std::vector<std::uint64_t>{1, 2})) << r;
  EXPECT_EQ(r.err,
            "forkjournal: corrupt journal (checksum_mismatch): record at seq 3: checksum "
            "mismatch\n");
  // Seqs past the damage are still readable, by log; export refuses them:
  // their chain values are computed over the damaged record, and no
  // unverified chain value is printed. The error names the damaged record,
  // not the head where the chain would first disagree.
  const Exited logged = fj({"log", "--json", "--from", "4"});
  EXPECT_EQ(logged.exit_code, 0) << logged;
  EXPECT_EQ(seqs(logged.out), (std::vector<std::uint64_t>{4}));
  const Exited after = fj({"export", "--from", "4"});
  EXPECT_EQ(after.exit_code, 2) << after;
  EXPECT_EQ(after.out, "") << after;
  EXPECT_EQ(after.err,
            "forkjournal: corrupt journal (checksum_mismatch): record at seq 3: checksum "
            "mismatch (the hash chain to seq 4 is recomputed over it from seq 1)\n");
}

// Flips a bit of `marker` in every copy LMDB keeps of the record holding it.
void flip_marker(const std::string& journal, const std::string& marker) {
  const std::string path = journal + "/data.mdb";
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t flipped = 0;
  for (auto at = data.find(marker); at != std::string::npos; at = data.find(marker, at + 1)) {
    data[at] = static_cast<char>(data[at] ^ 0x10);
    ++flipped;
  }
  ASSERT_GT(flipped, 0u);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Changes the last byte of `marker`, the fork id of a fork_added of template
// "t1", in every copy of its record and recomputes the record's CRC32C: an
// edit only the hash chain sees. Returns the new fork id.
std::string rewrite_marker(const std::string& journal, const std::string& marker) {
  const std::string path = journal + "/data.mdb";
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // header (12) | 2 "t1" | len marker | crc32c (4)
  const std::size_t before = 12 + 3 + 1;
  const std::size_t size = before + marker.size() + 4;
  std::size_t rewritten = 0;
  for (auto at = data.find(marker); at != std::string::npos; at = data.find(marker, at + 1)) {
    EXPECT_GE(at, before);
    const std::size_t start = at - before;
    data[at + marker.size() - 1] = 'X';
    const std::uint32_t crc = fj::crc32c(data.data() + start, size - 4);
    for (int i = 0; i < 4; ++i) {
      data[start + size - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    }
    ++rewritten;
  }
  EXPECT_GT(rewritten, 0u);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  return marker.substr(0, marker.size() - 1) + "X";
}

// The review's case: a damaged record before --from, in the first window
// (no checkpoint yet), so the chain is recomputed from the seed over it.
TEST_F(ExportTest, ADamagedRecordBeforeFromIsNamedByItsSeqNotTheHead) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 166);       // seqs 2-167
  ok({"fork", "t1", "frkcorruptmarker"});               // seq 168
  fj::testing::append_forks(journal_, "t1", 156, "g");  // seqs 169-324
  flip_marker(journal_, "frkcorruptmarker");

  const std::string named =
      "forkjournal: corrupt journal (checksum_mismatch): record at seq 168: checksum mismatch";
  const Exited whole = fj({"export"});
  EXPECT_EQ(whole.exit_code, 2) << whole.err;
  EXPECT_EQ(seqs(whole.out).size(), 167u);
  EXPECT_EQ(whole.err, named + "\n");

  const Exited from = fj({"export", "--from", "200"});
  EXPECT_EQ(from.exit_code, 2) << from.err;
  EXPECT_EQ(from.out, "");
  EXPECT_EQ(from.err, named + " (the hash chain to seq 200 is recomputed over it from seq 1)\n");

  // --follow starts the same way, and stops there.
  const Exited follow = fj({"export", "--follow", "--from", "200"});
  EXPECT_EQ(follow.exit_code, 2) << follow.err;
  EXPECT_EQ(follow.out, "");
  EXPECT_EQ(follow.err, from.err);

  // A range that ends before the damage is checked by walking on to the
  // head over it: the damaged record is named there too, and the range's
  // lines, which that check could not verify, are not printed.
  const Exited to = fj({"export", "--from", "10", "--to", "100"});
  EXPECT_EQ(to.exit_code, 2) << to.err;
  EXPECT_EQ(to.out, "");
  EXPECT_EQ(to.err, named + " (the chain values up to seq 100 are checked at seq 324)\n");
}

// An edit with a valid CRC is only seen by the chain, at the next stored
// value: the error names the seqs the chain cannot tell apart and the audit.
TEST_F(ExportTest, AnEditOnlyTheChainSeesNamesTheSeqsItCannotTellApart) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 166);       // seqs 2-167
  ok({"fork", "t1", "frkcorruptmarker"});               // seq 168
  fj::testing::append_forks(journal_, "t1", 156, "g");  // seqs 169-324
  const std::string edited = rewrite_marker(journal_, "frkcorruptmarker");
  // The edit decodes: log shows it.
  const Exited logged = fj({"log", "--json", "--from", "168", "--to", "168"});
  ASSERT_EQ(logged.exit_code, 0) << logged;
  EXPECT_EQ(parse(logged.out).at(0).at("fork"), edited.c_str());

  const Exited from = fj({"export", "--from", "200"});
  EXPECT_EQ(from.exit_code, 2) << from.err;
  EXPECT_EQ(from.out, "");
  EXPECT_EQ(from.err,
            "forkjournal: corrupt journal (corrupt_meta): the hash chain recomputed from seq 1 "
            "disagrees with the stored chain head at seq 324: a record in seqs 1-324, or a "
            "stored chain value, changed (the chain cannot say which; 'forkjournal audit' checks "
            "every record from seq 1)\n");
  const Exited audit = fj({"audit"});
  EXPECT_EQ(audit.exit_code, 1) << audit;
}

TEST_F(ExportTest, AJournalAnotherProcessIsWritingExportsAConsistentPrefix) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> appended{0};
  std::thread writer([&] {
    auto journal = fj::Journal::open(journal_, fj::JournalOptions{.sync = fj::SyncMode::none});
    ASSERT_TRUE(journal) << journal.error().message;
    auto ledger = fj::Ledger::open(*journal);
    ASSERT_TRUE(ledger) << ledger.error().message;
    for (int i = 0; !stop || i < 20; ++i) {
      auto outcome = ledger->execute(fj::AddFork{"t1", "f" + std::to_string(i)}, fj::Origin::api);
      ASSERT_TRUE(outcome) << outcome.error().message;
      ++appended;
      if (i >= 5000) break;
    }
  });
  std::size_t previous = 0;
  for (int run = 0; run < 5; ++run) {
    const Exited r = fj({"export"});
    ASSERT_EQ(r.exit_code, 0) << r;
    const std::vector<std::uint64_t> got = seqs(r.out);
    ASSERT_GE(got.size(), previous);
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i + 1) << r.out;
    previous = got.size();
  }
  stop = true;
  writer.join();
  EXPECT_GT(appended.load(), 0u);
  const Exited all = fj({"export"});
  EXPECT_EQ(seqs(all.out).size(), 1 + appended.load()) << all;
}

TEST_F(ExportTest, HelpDescribesTheExitedgeAndTheFormat) {
  const Exited r = fj::testing::run({FORKJOURNAL_BIN, "export", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(r.out.find("NDJSON") != std::string::npos) << r;
  EXPECT_TRUE(r.out.find("--from") != std::string::npos) << r;
  EXPECT_TRUE(r.out.find("--to") != std::string::npos) << r;
}

}  // namespace

TEST_F(ExportTest, ChainValuesFromAnySeqAcrossCheckpointsMatchTheWalkFromSeqOne) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 8999);
  const Exited all = fj({"export"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const std::vector<std::string> lines = split_lines(all.out);
  ASSERT_EQ(lines.size(), 9000u);
  // Starting on, just before and just after a checkpoint, and between them;
  // ranges ending between checkpoints too.
  for (std::uint64_t from : {4095u, 4096u, 4097u, 5000u, 8192u, 8193u, 9000u}) {
    const Exited tail = fj({"export", "--from", std::to_string(from)});
    ASSERT_EQ(tail.exit_code, 0) << from << ": " << tail.err;
    const std::vector<std::string> got = split_lines(tail.out);
    ASSERT_EQ(got.size(), 9001 - from) << from;
    EXPECT_EQ(got.front(), lines[from - 1]) << from;
    EXPECT_EQ(got.back(), lines.back()) << from;
  }
  const Exited middle = fj({"export", "--from", "4000", "--to", "5000"});
  ASSERT_EQ(middle.exit_code, 0) << middle.err;
  EXPECT_EQ(split_lines(middle.out),
            std::vector<std::string>(lines.begin() + 3999, lines.begin() + 5000));
}

TEST_F(ExportTest, AChainThatDisagreesWithACheckpointPrintsNothingUncheckedAndNamesTheSeq) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 4998);  // seqs 2-4999
  ok({"fork", "t1", "frkcorruptmarker"});           // seq 5000
  fj::testing::append_forks(journal_, "t1", 4000, "g");
  const std::string path = journal_ + "/data.mdb";
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t flipped = 0;
  for (auto at = data.find("frkcorruptmarker"); at != std::string::npos;
       at = data.find("frkcorruptmarker", at + 1)) {
    data[at] = static_cast<char>(data[at] ^ 0x10);
    ++flipped;
  }
  ASSERT_GT(flipped, 0u);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;

  // From 6000 the chain is carried from the checkpoint at 4096 over the
  // damaged seq 5000, which is named.
  const Exited r = fj({"export", "--from", "6000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "forkjournal: corrupt journal (checksum_mismatch): record at seq 5000: checksum "
            "mismatch (the hash chain to seq 6000 is recomputed over it from the checkpoint at "
            "seq 4096)\n");
  // From past that checkpoint the chain starts from it and checks out.
  const Exited after = fj({"export", "--from", "8193"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(split_lines(after.out).size(), 808u);
}

TEST_F(ExportTest, AnEditOnlyTheChainSeesIsPlacedBetweenTheCheckpointsAroundIt) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 4998);  // seqs 2-4999
  ok({"fork", "t1", "frkcorruptmarker"});           // seq 5000
  fj::testing::append_forks(journal_, "t1", 4000, "g");
  rewrite_marker(journal_, "frkcorruptmarker");
  // From 6000 the chain is carried from the checkpoint at 4096 over the
  // edited seq 5000, which decodes, and first disagrees at 8192.
  const Exited r = fj({"export", "--from", "6000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "forkjournal: corrupt journal (corrupt_meta): the hash chain recomputed from the "
            "checkpoint at seq 4096 disagrees with the stored checkpoint at seq 8192: a record in "
            "seqs 4097-8192, or a stored chain value, changed (the chain cannot say which; "
            "'forkjournal audit' checks every record from seq 1)\n");
  // A range inside the first window still checks out.
  const Exited before = fj({"export", "--to", "4096"});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(split_lines(before.out).size(), 4096u);
}
