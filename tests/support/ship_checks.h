// Checks for the shipping tests: fill a journal fast, wait for a shipper,
// and compare a journal's subject in the fleet stream with the journal
// record by record (fleet/stream.h's contract). Call from the test's thread.
#pragma once

#include "fleet/internal/nats.h"
#include "fleet/shipper.h"
#include "journal/journal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace fj::testing {

// Creates stream FORKJOURNAL on `url` as someone with the nats tool could,
// with one subject and a storage of their choosing, otherwise than fleet init
// makes it.
void add_foreign_stream(const std::string& url, const std::string& subject, jsStorageType storage);

// A new journal at `dir` that does not sync: shipping needs no durability.
// Throws (failing the test) when it cannot be created.
Journal make_journal(const std::string& dir);

// Appends `count` fork_added events to `journal` in transactions of up to
// 1,000, numbering forks from `first`.
void append_forks(Journal& journal, std::uint64_t count, std::uint64_t first = 0);

// Polls until the shipper's shipped_seq reaches `seq` (or it halts), for at
// most `timeout`.
::testing::AssertionResult wait_shipped(const fleet::Shipper& shipper, std::uint64_t seq,
                                        std::chrono::steady_clock::duration timeout);

// Polls the stream on `urls` until the journal's subject's last message
// carries Fj-Seq `seq`, for at most `timeout`.
::testing::AssertionResult wait_stream_seq(const std::string& urls, const std::string& journal_id,
                                           std::uint64_t seq,
                                           std::chrono::steady_clock::duration timeout);

// The journal's subject holds exactly seqs 1..head of `journal`, each once, in
// order, each message's body the stored record, Fj-Journal the journal id,
// Fj-Chain the chain value after it, Fj-Host `host` and its message id
// "<journal id>:<seq>". Read as fleet::nats::for_each_message reads with
// `walk`. And the fleet view (fleet/fleet_view.h, what `forkjournal fleet
// counts` prints) folds the subject, unbroken, into the journal's own
// replayed projection.
::testing::AssertionResult stream_matches(
    const std::string& urls, const Journal& journal, const std::string& host,
    fleet::nats::Walk walk = fleet::nats::Walk::consumer_first);

}  // namespace fj::testing
