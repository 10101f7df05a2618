// The LMDB databases of one journal, opened once by Journal::open and shared
// by every transaction. Internal: names LMDB's handle type.
#pragma once

#include <lmdb.h>

namespace fj {

struct JournalDbs {
  MDB_dbi events = 0;
  MDB_dbi meta = 0;
  MDB_dbi snapshots = 0;
  MDB_dbi requests = 0;
  MDB_dbi chain = 0;
  // 0 in a read-only handle on a journal that never had a writer of this
  // build: only the pruning of request ids reads it.
  MDB_dbi request_order = 0;
};

}  // namespace fj
