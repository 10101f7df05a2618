// forkjournal: the replay, audit and operations tool for a fork journal.
#include "cli/commands.h"
#include "cli/stdout_buffer.h"
#include "journal/internal/format.h"
#include "present/duration.h"
#include "present/sync_option.h"
#include "present/usage_errors.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#ifndef FJ_VERSION
#define FJ_VERSION "unknown"
#endif

namespace {

// Whether the command parsed may have appended to the journal.
bool writes(const CLI::App& app, const fj::cli::Options& o) {
  if (o.dry_run) return false;
  for (const char* name :
       {"init", "register", "fork", "unfork", "retire", "snapshot", "reconcile", "import"}) {
    if (app.get_subcommand(name)->parsed()) return true;
  }
  return false;
}

// The line for a command line that names no known command (at the top or
// under fleet), or nullopt when a command was found: CLI11 says "A
// subcommand is required" for both a missing and an unknown one.
std::optional<std::string> command_missing(const CLI::App& app, const CLI::App& fleet) {
  const bool under_fleet = fleet.parsed();
  if (!(under_fleet ? fleet : app).get_subcommands().empty()) return std::nullopt;
  const std::string help = under_fleet ? "forkjournal fleet --help" : "forkjournal --help";
  // An unknown word is left over (fleet's fall through to the top).
  for (const std::string& arg : app.remaining(true)) {
    if (arg.starts_with('-')) continue;
    return std::string(under_fleet ? "unknown fleet command '" : "unknown command '") + arg +
           "' (see '" + help + "')";
  }
  return std::string(under_fleet ? "fleet needs a command: init, counts or verify"
                                 : "a command is required") +
         " (see '" + help + "')";
}

// For a missing argument: the first argument that starts with a single '-'
// (the tool has no short options), which CLI11 took for an option although
// it is likely the id that is missing, or empty.
std::string dash_hint(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-' && arg[1] != '-') {
      return "; '" + std::string(arg) + "' was read as an option: put '--' before an id that " +
             "starts with '-'";
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // Every command's output, help included, goes through it, so that a write
  // that fails is seen below.
  fj::cli::StdoutBuffer out;
  using fj::cli::Options;
  Options o;
  std::function<int(const Options&)> run;
  bool ran = false;  // a command ran (not help, version or a usage error)

  CLI::App app{
      "forkjournal: an event-sourced journal of VM template fork counts.\n"
      "Records fork and unfork events in an LMDB log and rebuilds the counts by replay.\n"
      "Exit codes: 0 done, 1 refused or findings, 2 usage, environment or corruption error.",
      "forkjournal"};
  app.set_version_flag("--version", std::string("forkjournal ") + FJ_VERSION +
                                        " (journal format version " +
                                        std::to_string(fj::kFormatVersion) + ")");
  app.require_subcommand(1);
  app.fallthrough();
  // Required by every command but health, which asks the daemon instead
  // (checked after parsing).
  app.add_option("--journal", o.journal, "Journal directory")->envname("FORKJOURNAL_DIR");
  fj::add_sync_option(app, o.sync);

  const auto command = [&](const char* name, const char* help, int (*fn)(const Options&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    sub->callback([&run, fn] { run = fn; });
    // A command's own help lists only its own options.
    sub->footer(
        "Global options (before or after the command, see 'forkjournal --help'):\n"
        "  --journal DIR               Journal directory (or FORKJOURNAL_DIR=DIR)\n"
        "  --sync full|nometa|none     Durability of writes");
    return sub;
  };
  // Seqs are decimal, up to 19 digits (so no value reaches the "head"
  // sentinel, and no hex or float spelling is accepted). An option naming a
  // state or the end of a range also takes seq 0, the state before any
  // event and an empty journal's head: a script may pass the head it read.
  // A first event's seq starts at 1.
  const auto seq_check = [](unsigned min) {
    return CLI::Validator(
        [min](std::string& v) -> std::string {
          const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
          const bool zero = digits && v.find_first_not_of('0') == std::string::npos;
          if (!digits || (zero && min > 0)) {
            return "'" + v + "' is not a seq (a decimal integer from " + std::to_string(min) + ")";
          }
          if (v.size() > 19) {
            return "'" + v +
                   "' is out of range: beyond the head of any journal (seqs have at most " +
                   "19 digits)";
          }
          return std::string();
        },
        "");
  };
  const auto seq_option = [&](CLI::App* sub, const char* name, std::optional<std::uint64_t>& seq,
                              const char* help, unsigned min) {
    sub->add_option(name, seq, help)->type_name("SEQ")->check(seq_check(min));
  };
  const auto json_flag = [&](CLI::App* sub) { sub->add_flag("--json", o.json, "Print JSON"); };

  command("init",
          "Create a new, empty journal in the --journal directory, which must be missing or empty "
          "(missing parent directories are created too)",
          fj::cli::cmd_init);

  CLI::App* reg = command("register", "Record that a standby instance became template T",
                          fj::cli::cmd_register);
  reg->add_option("template", o.template_id, "Template id")->required();
  reg->add_option("--source", o.source, "Source instance id")->required();
  reg->add_option("--name", o.name, "Human-readable name (UTF-8, up to 255 bytes)");

  using Run = int (*)(const Options&);
  for (auto [name, help, fn] :
       {std::tuple<const char*, const char*, Run>{
            "fork", "Record fork F of template T (before the fork is created)", fj::cli::cmd_fork},
        std::tuple<const char*, const char*, Run>{
            "unfork", "Record that fork F of template T is gone (after its data is removed)",
            fj::cli::cmd_unfork}}) {
    CLI::App* sub = command(name, help, fn);
    sub->add_option("template", o.template_id, "Template id")->required();
    sub->add_option("fork", o.fork, "Fork (instance) id")->required();
  }

  CLI::App* retire = command("retire", "Retire template T; refused (in_use) while forks live",
                             fj::cli::cmd_retire);
  retire->add_option("template", o.template_id, "Template id")->required();

  CLI::App* counts =
      command("counts", "Show the fork count of every template", fj::cli::cmd_counts);
  seq_option(counts, "--as-of", o.as_of,
             "Show the counts as of this seq, from 0 (before any event) to the head (the default)",
             0);
  json_flag(counts);

  CLI::App* log = command("log", "Print events (NDJSON with --json)", fj::cli::cmd_log);
  seq_option(log, "--from", o.from, "First seq, from 1 (the default)", 1);
  seq_option(log, "--to", o.to, "Last seq, from 0 (default: the head)", 0);
  log->add_option("--template", o.template_filter, "Only events of this template");
  json_flag(log);

  CLI::App* exp =
      command("export",
              "Print the events from --from to --to as NDJSON, one object per line "
              "(seq, type, time, origin, the event's fields, journal and chain); a range past the "
              "head is an error",
              fj::cli::cmd_export);
  seq_option(exp, "--from", o.from, "First seq, from 1 (the default)", 1);
  seq_option(exp, "--to", o.to, "Last seq, from 0 (default: the head)", 0);
  exp->add_flag("--follow", o.follow,
                "After the head, keep printing events as any process commits them, until "
                "SIGINT, SIGTERM or stdout closes (exit 0); --from may then be the head + 1");

  CLI::App* explain = command("explain", "Show every event of template T and the count after each",
                              fj::cli::cmd_explain);
  explain->add_option("template", o.template_id, "Template id")->required();
  json_flag(explain);

  CLI::App* replay = command(
      "replay", "Rebuild the counts from seq 1 (no snapshot) and compare with the snapshot path",
      fj::cli::cmd_replay);
  json_flag(replay);

  command("snapshot",
          "Store a snapshot at the head of the state rebuilt from seq 1 (a stored snapshot that "
          "differs from it is replaced, and every other one deleted)",
          fj::cli::cmd_snapshot);

  CLI::App* stats =
      command("stats", "Show journal size, event counts and snapshots", fj::cli::cmd_stats);
  json_flag(stats);

  CLI::App* reconcile = command(
      "reconcile",
      "Compare the counts with the instances in a VM manager's data root and append corrections",
      fj::cli::cmd_reconcile);
  reconcile
      ->add_option("--data-root", o.data_root, "The VM manager's data root (guests/, templates/)")
      ->required();
  reconcile->add_flag("--dry-run", o.dry_run, "Print the plan; write nothing at all");
  reconcile
      ->add_option("--fork-grace", o.fork_grace,
                   "How long a recorded fork may have no directory before it is declared lost, "
                   "e.g. 30s, 10m (0: at once)")
      ->default_val(o.fork_grace)
      ->check([](const std::string& text) -> std::string {
        return fj::render::parse_duration(text) ? "" : "not a duration like 30s, 10m or 0";
      });
  json_flag(reconcile);

  CLI::App* import = command(
      "import", "Bootstrap an empty journal from a data root's templates and provable forks",
      fj::cli::cmd_import);
  import->add_option("--data-root", o.data_root, "The VM manager's data root (guests/, templates/)")
      ->required();
  json_flag(import);

  CLI::App* audit =
      command("audit", "Verify checksums, seqs, the hash chain, replay anomalies and the snapshot",
              fj::cli::cmd_audit);
  audit->add_option("--expect-head", o.expect_head,
                    "SEQ:HEX from an earlier audit: prove that history is still there, unchanged");
  audit->add_option("--witness", o.witness,
                    "NATS URLs of the fleet stream: compare every event shipped from this journal "
                    "with the local record and chain value");
  json_flag(audit);

  CLI::App* backup = command(
      "backup",
      "Copy the journal, compacted and consistent as of one transaction, into the new or empty "
      "directory DEST while writers go on; audit the copy and print its head for --expect-head",
      fj::cli::cmd_backup);
  backup->add_option("dest", o.dest, "Backup directory (created 0700 if missing)")->required();
  json_flag(backup);

  CLI::App* restore = command(
      "restore",
      "Copy the journal in SRC (a backup) into the new or empty --journal directory and audit it; "
      "stop the daemon first",
      fj::cli::cmd_restore);
  restore->add_option("src", o.source, "Backup directory (holding data.mdb)")->required();
  json_flag(restore);

  CLI::App* health = command(
      "health",
      "Ask forkjournald for its health: exit 0 healthy, 1 degraded, 2 unreachable (no --journal)",
      fj::cli::cmd_health);
  health->footer("");  // it takes no --journal
  health->add_option("--socket", o.socket, "forkjournald's Unix socket")->required();
  health
      ->add_option("--timeout", o.health_timeout_s,
                   "Seconds the whole exchange may take before the daemon counts as unreachable")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  json_flag(health);

  CLI::App* fleet = app.add_subcommand("fleet", "The fleet-wide NATS JetStream stream");
  fleet->require_subcommand(1);
  CLI::App* fleet_init =
      fleet->add_subcommand("init",
                            "Create the stream FORKJOURNAL that forkjournald --ship publishes to "
                            "(file storage); nothing to do when it exists as asked (no --journal)");
  fleet_init->callback([&run] { run = fj::cli::cmd_fleet_init; });
  fleet_init->add_option("--nats", o.nats, "NATS server URLs, comma-separated nats://HOST:PORT")
      ->required();
  fleet_init->add_option("--replicas", o.replicas, "Copies of the stream (1 to 5)")
      ->default_val(1)
      ->check(CLI::Range(1, 5));
  json_flag(fleet_init);
  for (auto [name, help, fn] :
       {std::tuple<const char*, const char*, Run>{
            "counts",
            "Rebuild every journal's fork counts from the stream alone: host, shipped seq and "
            "templates per journal, and fleet totals (no --journal)",
            fj::cli::cmd_fleet_counts},
        std::tuple<const char*, const char*, Run>{
            "verify",
            "Check every journal in the stream: gap-free seqs, record checksums, the Fj-Chain "
            "hash chain and the headers; exit 1 naming each journal and seq that breaks "
            "(no --journal)",
            fj::cli::cmd_fleet_verify}}) {
    CLI::App* sub = fleet->add_subcommand(name, help);
    sub->callback([&run, run_it = fn] { run = run_it; });
    sub->add_option("--nats", o.nats, "NATS server URLs, comma-separated nats://HOST:PORT")
        ->required();
    json_flag(sub);
  }

  const int code = [&] {
    if (const auto empty = fj::empty_option_value(app, argc, argv)) {
      std::cerr << "forkjournal: " << *empty << " (see 'forkjournal --help')\n";
      return 2;
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::RequiredError& e) {
      const auto missing = command_missing(app, *fleet);
      std::cerr << "forkjournal: "
                << missing.value_or(std::string(e.what()) + dash_hint(argc, argv) + " (see '" +
                                    fj::help_command(app) + "')")
                << '\n';
      return 2;
    } catch (const CLI::ParseError& e) {
      std::cerr << "forkjournal: " << fj::usage_error(app, e) << " (see '" << fj::help_command(app)
                << "')\n";
      return 2;
    }
    if (o.journal.empty() && !health->parsed() && !fleet->parsed()) {
      std::cerr << "forkjournal: --journal is required (see 'forkjournal --help')\n";
      return 2;
    }
    ran = true;
    return run(o);
  }();
  if (const int err = out.flush(); err != 0) {
    // Said when the command itself succeeded: its effect stays, only its
    // report is lost.
    const bool done_ok = ran && code == 0;
    std::string done;
    if (done_ok && (backup->parsed() || restore->parsed())) {
      const std::string& copy = backup->parsed() ? o.dest : o.journal;
      done = " (the copy in " + copy +
             " is complete, but its head was not printed: " + "'forkjournal --journal " + copy +
             " audit' prints it)";
    } else if (done_ok && writes(app, o)) {
      done = " (what the command recorded is committed: see 'forkjournal log')";
    }
    std::cerr << "forkjournal: write to stdout: " << std::strerror(err) << done << '\n';
    return 2;
  }
  return code;
}
