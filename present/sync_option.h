// The --sync option shared by forkjournal and forkjournald: one spelling of
// the three durability modes, one help text, one error for anything else.
// Header-only (CLI11 is); no state, safe from any thread.
#pragma once

#include "journal/journal.h"

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fj {

inline const std::map<std::string, SyncMode>& sync_modes() {
  static const std::map<std::string, SyncMode> modes{
      {"full", SyncMode::full}, {"nometa", SyncMode::nometa}, {"none", SyncMode::none}};
  return modes;
}

inline std::string_view sync_mode_name(SyncMode mode) {
  for (const auto& [name, m] : sync_modes()) {
    if (m == mode) return name;
  }
  return "unknown";
}

// Adds --sync to `app`, writing the chosen mode to `mode` (left as it is when
// the option is absent). A value other than the three names is a
// CLI::ValidationError ("--sync: X not in {full,nometa,none}").
inline CLI::Option* add_sync_option(CLI::App& app, SyncMode& mode) {
  std::vector<std::string> names;
  for (const auto& entry : sync_modes()) names.push_back(entry.first);
  // transform() runs the validator added last first: the names are checked
  // before the CheckedTransformer, which on its own would also accept the
  // enum's numbers ("0", "1", "2").
  return app
      .add_option("--sync", mode,
                  "Durability of writes: full (fsync every commit, the default), nometa "
                  "(skip the meta-page fsync), none (no fsync: benchmarks only)")
      ->type_name("TEXT")
      ->transform(CLI::CheckedTransformer(sync_modes()).description(""))
      ->transform(CLI::IsMember(names));
}

}  // namespace fj
