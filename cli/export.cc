// forkjournal export: the events of a seq range as NDJSON, for pipelines.
// Unlike log, a range that reaches past the head is an error, so a pipeline
// never mistakes a short journal for a complete export.
#include "cli/commands.h"
#include "cli/event_line.h"
#include "journal/events.h"

#include <iostream>

namespace fj::cli {
namespace {

Error beyond_head(const char* option, std::uint64_t seq, std::uint64_t head) {
  return make_error(Errc::invalid_argument, std::string(option) + " " + std::to_string(seq) +
                                                " is beyond the head (seq " + std::to_string(head) +
                                                ")");
}

}  // namespace

int cmd_export(const Options& o) {
  if (o.from && o.to && *o.from > *o.to) {
    return report(make_error(
        Errc::invalid_argument,
        "--from " + std::to_string(*o.from) + " is after --to " + std::to_string(*o.to)));
  }
  auto journal = Journal::open(o.journal, JournalOptions{.read_only = true});
  if (!journal) return report(journal.error());
  // One read transaction: the export is the journal as of one moment, also
  // while another process appends.
  auto done = journal->read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    if (o.from && *o.from > *head) return beyond_head("--from", *o.from, *head);
    if (o.to && *o.to > *head) return beyond_head("--to", *o.to, *head);
    return for_each_event(
        r, o.from.value_or(1), o.to.value_or(*head),
        [&](std::uint64_t seq, const EventView& e) { print_event_line(std::cout, seq, e); });
  });
  std::cout.flush();
  return done ? 0 : report(done.error());
}

}  // namespace fj::cli
