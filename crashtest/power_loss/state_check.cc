#include "crashtest/power_loss/state_check.h"

#include "crashtest/dash.h"
#include "crashtest/waiter.h"
#include "daemon/service.h"
#include "journal/codec.h"
#include "journal/events.h"
#include "projector/audit.h"
#include "projector/replay.h"

#include <xxhash.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <charconv>
#include <sstream>
#include <thread>

namespace fj::power_loss {
namespace {

using fj::crashtest::undash;

std::string describe(std::string_view stage, const Error& e) {
  return std::string(stage) + ": " + std::string(code_name(e.code)) + ": " + e.message;
}

// Tabs and newlines would break the one-line form.
std::string flat(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  return s;
}

struct Opened {
  std::uint64_t head = 0;
  std::uint64_t digest = 0;
  std::uint64_t lost = 0;
  std::string first_lost;
};

// The acknowledgements a readable journal does not hold as acknowledged.
Result<Opened> read_only_view(const std::string& dir, std::span<const Ack> acks,
                              std::string& refused,
                              const std::function<void(std::string_view)>& stage) {
  stage("read-only open");
  auto journal = Journal::open(dir, JournalOptions{.read_only = true});
  if (!journal) {
    refused = describe("read-only open", journal.error());
    return journal.error();
  }
  stage("audit");
  auto audited = audit(*journal);
  if (!audited) {
    refused = describe("audit", audited.error());
    return audited.error();
  }
  if (!audited->ok()) {
    const AuditFinding& f = audited->findings.front();
    refused = "audit: " + f.kind + " at seq " + std::to_string(f.seq) + ": " + f.detail;
    return make_error(Errc::corrupt_record, refused);
  }
  stage("replay");
  auto replayed = replay(*journal);
  if (!replayed) {
    refused = describe("replay", replayed.error());
    return replayed.error();
  }
  Opened out{audited->head_seq, digest(*replayed), 0, {}};
  stage("reading acknowledged seqs");
  auto read = journal->read([&](Reader& r) -> Result<void> {
    for (const Ack& a : acks) {
      std::string why;
      if (a.seq > out.head) {
        why = "beyond the head (seq " + std::to_string(out.head) + ")";
      } else {
        auto record = r.record(a.seq);
        if (!record) return record.error();
        auto e = *record ? decode(a.seq, **record) : make_error(Errc::seq_gap, "missing");
        if (!e) {
          why = e.error().message;
        } else if (e->type != a.type || e->origin != a.origin || e->template_id != a.template_id ||
                   e->fork != a.fork || e->source != a.source) {
          why = "holds " + std::string(type_name(e->type)) + " " + std::string(e->template_id) +
                " " + std::string(e->fork);
        }
      }
      if (why.empty()) continue;
      if (out.lost++ == 0) {
        out.first_lost = "acknowledged " + std::string(type_name(a.type)) + " " + a.template_id +
                         " " + a.fork + " at seq " + std::to_string(a.seq) + ": " + why;
      }
    }
    return {};
  });
  if (!read) {
    refused = describe("reading acknowledged seqs", read.error());
    return read.error();
  }
  return out;
}

struct Booted {
  std::uint64_t head = 0;
  std::uint64_t digest = 0;
};

// The daemon's boot, without a data root. Its own writes (the boot
// snapshot) need no durability here.
Result<Booted> boot(const std::string& dir) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  service::ServiceOptions options;
  options.journal = dir;
  options.sync = SyncMode::none;
  Result<Booted> out = make_error(Errc::invalid_argument, "not booted");
  {
    auto service = service::Service::start(io.get_executor(), options);
    if (!service) {
      out = service.error();
    } else {
      Waiter<Result<Booted>> done;
      (*service)->async_read(
          [](const Projection& p) {
            return Booted{p.seq(), digest(p)};
          },
          done.callback());
      out = done.future.get();
      (*service)->stop();
    }
  }
  work.reset();
  io_thread.join();
  return out;
}

}  // namespace

std::optional<Ack> parse_ack(std::string_view mark) {
  std::istringstream in{std::string(mark)};
  std::string tag;
  int type = 0, origin = 0;
  Ack a;
  in >> tag >> a.seq >> type >> origin >> a.template_id >> a.fork >> a.source;
  if (tag != "A" || !in || a.seq == 0) return std::nullopt;
  a.type = static_cast<EventType>(type);
  a.origin = static_cast<Origin>(origin);
  a.template_id = undash(a.template_id);
  a.fork = undash(a.fork);
  a.source = undash(a.source);
  return a;
}

std::uint64_t digest(const Projection& p) {
  std::vector<const Template*> templates = p.templates();
  std::sort(templates.begin(), templates.end(),
            [](const Template* a, const Template* b) { return a->id.view() < b->id.view(); });
  std::string text;
  for (const Template* t : templates) {
    text += t->id.view();
    text += '\0';
    text += std::to_string(static_cast<int>(t->state)) + ":" + std::to_string(t->forks) + ":";
    for (const std::string& f : p.live_forks(t->id.view())) text += f + ",";
    text += '\n';
  }
  return XXH3_64bits(text.data(), text.size());
}

boost::system::result<Reference, std::string> Reference::build(const std::string& journal) {
  auto opened = Journal::open(journal, JournalOptions{.read_only = true});
  if (!opened) return "cannot open the recorded journal: " + opened.error().message;
  Reference ref;
  Projection p;
  ref.digests_.push_back(digest(p));
  auto replayed = opened->read([&](Reader& r) -> Result<void> {
    return for_each_event(r, 1, kHead, [&](std::uint64_t seq, const EventView& e) {
      p.apply(seq, e);
      ref.digests_.push_back(digest(p));
    });
  });
  if (!replayed) return "cannot replay the recorded journal: " + replayed.error().message;
  return ref;
}

Verdict check_state(const std::string& dir, std::span<const Ack> acks, const Reference& reference,
                    const std::function<void(std::string_view)>& stage_begins) {
  const auto stage = [&](std::string_view name) {
    if (stage_begins) stage_begins(name);
  };
  Verdict v;
  v.acked = acks.size();
  const auto wrong = [&](std::string what) {
    if (!v.wrong_count && v.problem.empty()) v.problem = std::move(what);
    v.wrong_count = true;
  };
  const auto expected = [&](std::uint64_t head, std::uint64_t got, std::string_view who) {
    if (head > reference.head()) {
      wrong(std::string(who) + " has head seq " + std::to_string(head) +
            ", beyond the recording's " + std::to_string(reference.head()));
    } else if (got != reference.digest_at(head)) {
      wrong(std::string(who) + " counts differ from the recording's at seq " +
            std::to_string(head));
    }
  };

  auto ro = read_only_view(dir, acks, v.refused, stage);
  if (ro) {
    v.opened = true;
    v.head = ro->head;
    v.acked_lost = ro->lost;
    if (ro->lost > 0) v.problem = ro->first_lost;
    expected(ro->head, ro->digest, "the read-only replay");
  } else {
    // Nothing acknowledged can be read back from a refused state.
    v.acked_lost = acks.size();
    if (!acks.empty())
      v.problem =
          "refused with " + std::to_string(acks.size()) + " acknowledged events: " + v.refused;
  }
  stage("boot");
  auto booted = boot(dir);
  if (!booted) {
    v.boot_refused = describe("boot", booted.error());
    if (v.refused.empty()) v.refused = v.boot_refused;
    return v;
  }
  v.booted = true;
  if (!ro) v.head = booted->head;
  if (ro && booted->head != ro->head) {
    wrong("the boot has head seq " + std::to_string(booted->head) + ", the read-only open " +
          std::to_string(ro->head));
  }
  expected(booted->head, booted->digest, "the boot");
  return v;
}

std::string to_line(const Verdict& v) {
  return std::to_string(v.opened) + "\t" + std::to_string(v.booted) + "\t" +
         std::to_string(v.head) + "\t" + std::to_string(v.acked) + "\t" +
         std::to_string(v.acked_lost) + "\t" + std::to_string(v.wrong_count) + "\t" +
         flat(v.refused) + "\t" + flat(v.boot_refused) + "\t" + flat(v.problem);
}

std::optional<Verdict> from_line(std::string_view line) {
  std::vector<std::string> f;
  std::size_t at = 0;
  for (;;) {
    const auto tab = line.find('\t', at);
    f.emplace_back(line.substr(at, tab == std::string_view::npos ? line.npos : tab - at));
    if (tab == std::string_view::npos) break;
    at = tab + 1;
  }
  if (f.size() != 9) return std::nullopt;
  Verdict v;
  const auto number = [](const std::string& s, std::uint64_t& out) {
    return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc{};
  };
  std::uint64_t opened = 0, booted = 0, wrong = 0;
  if (!number(f[0], opened) || !number(f[1], booted) || !number(f[2], v.head) ||
      !number(f[3], v.acked) || !number(f[4], v.acked_lost) || !number(f[5], wrong)) {
    return std::nullopt;
  }
  v.opened = opened != 0;
  v.booted = booted != 0;
  v.wrong_count = wrong != 0;
  v.refused = f[6];
  v.boot_refused = f[7];
  v.problem = f[8];
  return v;
}

}  // namespace fj::power_loss
