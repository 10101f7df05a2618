// Writes the seed corpus of every fuzz target under <fuzz dir>/corpus/<target>/:
//   fj_fuzz_make_seeds /path/to/fuzz
// The output is checked in; rerun this after a format change and commit the
// difference. Seeds are valid inputs of every kind a parser accepts (one
// record of each event type, snapshots of real projections, the hypeman sample
// data root, one request per op) plus a few classic refusals.
#include "journal/codec.h"
#include "journal/event.h"
#include "journal/ids.h"
#include "journal/internal/format.h"
#include "projector/internal/snapshot.h"
#include "projector/projection.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace fj;

namespace {

fs::path g_out;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_out / "corpus" / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Event make(EventType type, std::string tpl, std::string fork = {}, Reason reason = Reason::none) {
  Event e;
  e.type = type;
  e.origin = Origin::api;
  e.time_ns = 1'764'000'000'123'456'789ull;
  e.template_id = std::move(tpl);
  e.fork = std::move(fork);
  e.reason = reason;
  if (type == EventType::fork_recovered || type == EventType::fork_lost) {
    e.origin = Origin::reconcile;
    e.evidence = "guests/" + e.fork + "/metadata.json: absent";
  }
  return e;
}

Event registered(std::string tpl, std::string source, std::string name) {
  Event e = make(EventType::template_registered, std::move(tpl));
  e.source = std::move(source);
  e.name = std::move(name);
  return e;
}

void records() {
  const std::string web = "tpl0web0000000000000001";
  Event run = make(EventType::reconcile_run, "");
  run.origin = Origin::reconcile;
  run.run = ReconcileStats{41, 100, 2, 3, 1};
  Event longest = make(EventType::fork_lost, std::string(kMaxIdSize, 't'),
                       std::string(kMaxIdSize, 'f'), Reason::metadata_disagrees);
  longest.evidence = std::string(kMaxEvidenceSize, 'e');
  std::string long_name;
  while (long_name.size() + 3 <= kMaxNameSize) long_name += "\xE2\x9C\x93";  // U+2713
  Event cli_registered = registered("t", "s", long_name);
  cli_registered.origin = Origin::cli;
  const std::vector<std::pair<std::string, Event>> events{
      {"template_registered", registered(web, "src0web0000000000000001", "web \xE2\x9C\x93")},
      {"template_registered_long_name", cli_registered},
      {"fork_added", make(EventType::fork_added, web, "frk0web0000000000000001")},
      {"fork_removed", make(EventType::fork_removed, web, "frk0web0000000000000001")},
      {"template_retired", make(EventType::template_retired, web, {}, Reason::orphaned)},
      {"fork_recovered", make(EventType::fork_recovered, "t", "f", Reason::untracked_fork)},
      {"fork_lost", make(EventType::fork_lost, "t", "f", Reason::instance_missing)},
      {"reconcile_run", run},
      {"longest_record", longest},
  };
  for (const auto& [name, e] : events) {
    if (!validate(view(e))) throw std::runtime_error("invalid seed event " + name);
    write("record", name + ".bin", encode(view(e)));
  }
  // A refusal: a flipped bit in time_ns (with the checksum recomputed, the
  // target's second pass, it decodes again).
  std::string flipped = encode(view(events[2].second));
  flipped[5] = static_cast<char>(flipped[5] ^ 0x01);
  write("record", "checksum_mismatch.bin", flipped);
  std::string version2 = encode(view(events[0].second));
  version2[0] = 2;
  write("record", "unknown_version.bin", version2);
}

Projection apply_all(const std::vector<Event>& events) {
  Projection p;
  std::uint64_t seq = 0;
  for (const Event& e : events) p.apply(++seq, view(e));
  return p;
}

void snapshots() {
  write("snapshot", "empty.bin", SnapshotCodec::encode(Projection{}, 0));
  // The projection of tests/snapshot_test.cc: anomalies, a lost fork, a retired template.
  write("snapshot", "sample.bin",
        SnapshotCodec::encode(
            apply_all({registered("web", "src", "web \xE2\x9C\x93"), registered("db", "src0", "db"),
                       make(EventType::fork_added, "web", "a"),
                       make(EventType::fork_added, "web", "b"),
                       make(EventType::fork_added, "db", "c"),
                       make(EventType::fork_lost, "web", "a", Reason::instance_missing),
                       make(EventType::fork_removed, "web", "ghost"),
                       make(EventType::template_retired, "db", {}, Reason::deleted)}),
            0xABCD1234));
  // What the journal of tests/fixtures/hypeman-sample says after a reconcile.
  const std::string web = "tpl0web0000000000000001", ci = "tpl0ci00000000000000001";
  write("snapshot", "hypeman.bin",
        SnapshotCodec::encode(
            apply_all({registered(web, "src0web0000000000000001", "web"),
                       registered("tpl0db00000000000000001", "src0db00000000000000001", "db"),
                       registered(ci, "src0ci00000000000000001", "ci"),
                       make(EventType::fork_added, web, "frk0web0000000000000001"),
                       make(EventType::fork_added, web, "frk0web0000000000000002"),
                       make(EventType::fork_added, web, "frk0web0000000000000003"),
                       make(EventType::fork_added, web, "frk0web0000000000000004"),
                       make(EventType::fork_lost, web, "frk0web0000000000000004",
                            Reason::instance_missing),
                       make(EventType::fork_recovered, ci, "frk0ci00000000000000001",
                            Reason::untracked_fork)}),
            0x01020304));
  // Longest ids and name.
  const std::string t(kMaxIdSize, 'T'), f(kMaxIdSize, 'F');
  write("snapshot", "long_ids.bin",
        SnapshotCodec::encode(
            apply_all({registered(t, std::string(kMaxIdSize, 'S'), std::string(kMaxNameSize, 'n')),
                       make(EventType::fork_added, t, f)}),
            0xFFFFFFFF));
}

void metadata() {
  const fs::path root = fs::path(FJ_FIXTURES) / "hypeman-sample";
  std::set<std::string> seen;
  for (const char* kind : {"guests", "templates"}) {
    for (const auto& dir : fs::directory_iterator(root / kind)) {
      for (const auto& file : fs::directory_iterator(dir.path())) {
        const std::string id = dir.path().filename().string();
        std::string bytes = read(file.path());
        const std::string base = std::string(kind) + "_" + id;
        if (seen.insert(bytes).second) write("metadata", base + ".json", bytes);
        // The same file read under the fuzz target's id (fj::fuzz::kMetadataId).
        for (std::size_t at; (at = bytes.find(id)) != std::string::npos;) {
          bytes.replace(at, id.size(), "frk0");
        }
        if (seen.insert(bytes).second) write("metadata", base + "_as_frk0.json", bytes);
      }
    }
  }
  write("metadata", "both_kinds.json",
        R"({"Id":"frk0","id":"frk0","IsTemplate":false,"TemplateID":null,)"
        R"("ForkOfTemplate":"tpl0web","name":"web \u2713","source_instance_id":"src0",)"
        R"("fork_count":-3,"Unknown":{"nested":[1,2.5e3,true,null]}})");
  write("metadata", "deep.json",
        R"({"Id":"frk0","x":)" + std::string(40, '[') + std::string(40, ']') + "}");
}

void requests() {
  const std::vector<std::pair<std::string, std::string>> lines{
      {"ping", R"({"op":"ping","id":1})"},
      {"register",
       R"({"op":"register","id":"r-1","template":"tpl0web","source":"src0web","name":"web \u2713"})"},
      {"fork",
       R"({"op":"fork","id":2,"template":"tpl0web","fork":"frk0web1","request_id":"vmm-7731"})"},
      {"unfork", R"({"op":"unfork","id":[3,{"a":null}],"template":"tpl0web","fork":"frk0web1"})"},
      {"retire", R"({"op":"retire","id":-4.5e-3,"template":"tpl0web","request_id":null})"},
      {"counts", R"({"op":"counts"})"},
      {"template", R"({"op":"template","id":{"k":"v"},"template":"tpl0web"})"},
      {"reconcile", R"({"op":"reconcile","id":18446744073709551615,"dry_run":true})"},
      {"snapshot", R"({"op":"snapshot","id":null})"},
      {"stats", R"({"id":"s","op":"stats","extra":[1,2,3]})"},
      {"unknown_op", R"({"op":"fork\u00e9\u00e9","id":7})"},
      {"invalid_id", R"({"op":"fork","template":"../etc","fork":"f"})"},
      {"not_an_object", R"(["op","ping"])"},
      {"malformed", R"({"op":"ping",)"},
  };
  for (const auto& [name, line] : lines) write("request", name + ".json", line);
}

// Two bytes per event, as fj::fuzz::replay_event reads them.
std::string ev(unsigned type, unsigned tpl, unsigned fork = 0, bool second = false,
               unsigned variant = 0, unsigned origin = 0) {
  std::string out;
  out += static_cast<char>((type & 7) | (second ? 8 : 0) | (origin << 4));
  out += static_cast<char>((tpl & 3) | ((fork & 7) << 2) | ((variant & 7) << 5));
  return out;
}

void replays() {
  enum : unsigned {
    kRun = 0,
    kReg = 1,
    kAdd = 2,
    kRemove = 3,
    kRetire = 4,
    kRecover = 5,
    kLost = 6
  };
  // First byte: the seq after which a snapshot is taken (modulo events + 1).
  write("replay", "lifecycle.bin",
        "\x04" + ev(kReg, 0, 0, false, 1) + ev(kAdd, 0, 0) + ev(kAdd, 0, 1) + ev(kRemove, 0, 0) +
            ev(kLost, 0, 1) + ev(kRecover, 0, 1, true) + ev(kRetire, 0) + ev(kRun, 0));
  write("replay", "anomalies.bin",
        "\x02" + ev(kAdd, 1, 2) + ev(kReg, 1) + ev(kReg, 1, 0, false, 2) + ev(kRemove, 1, 3) +
            ev(kRetire, 1, 0, true) + ev(kRetire, 1) + ev(kAdd, 1, 4) + ev(kLost, 2, 4));
  write("replay", "cross_template.bin",
        "\x05" + ev(kReg, 0) + ev(kReg, 1) + ev(kAdd, 0, 2) + ev(kAdd, 1, 2) + ev(kRemove, 1, 2) +
            ev(kLost, 0, 2) + ev(kAdd, 1, 2) + ev(kRemove, 1, 2, false, 7) + ev(kRecover, 0, 2));
  write("replay", "long_ids.bin",
        std::string("\x01", 1) + ev(kReg, 3, 0, false, 7) + ev(kAdd, 3, 7) +
            ev(kLost, 3, 7, true, 7, 1) + ev(kRecover, 3, 7, false, 7, 2) + ev(kRetire, 3));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fj_fuzz_make_seeds FUZZ_DIR\n";
    return 2;
  }
  g_out = argv[1];
  records();
  snapshots();
  metadata();
  requests();
  replays();
  std::cout << "seeds written under " << (g_out / "corpus").string() << "\n";
  return 0;
}
