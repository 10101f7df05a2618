// Opens the journal a daemon or an embedded service writes to, creating it
// when there is none yet.
//
// Errors: Journal::create's and Journal::open's (not_a_journal for a
// directory that holds something else, unknown_version, corrupt_meta, ...).
// Threads: any; LMDB allows one open handle per environment and process, so
// close any earlier handle on `dir` first. The returned Journal is owned by
// the caller.
#pragma once

#include "journal/journal.h"

#include <string>

namespace fj::service {

struct OpenedJournal {
  Journal journal;
  bool created = false;  // the journal did not exist and was created
};

// Creates the journal when `dir` is missing, an empty directory, or holds
// only what an interrupted create left; opens it otherwise. A create that
// finds a journal made meanwhile by another process opens that one.
// max_map_size: JournalOptions::max_map_size (0: no limit); requests:
// JournalOptions::requests.
Result<OpenedJournal> open_or_create(const std::string& dir, SyncMode sync,
                                     std::size_t max_map_size = 0,
                                     const RequestWindow& requests = {});

}  // namespace fj::service
