// Usage errors of the three command-line tools (forkjournal, forkjournald,
// forkjournal-crashtest) in one plain line each: CLI11's own wording ("At
// Most 1 required but received 2") reads like a parser's internals, and an
// option written `--name=` with nothing after '=' makes CLI11 take the next
// word as its value. Header-only (CLI11 is); no state, safe from any thread.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace fj {

namespace usage_detail {

// Whether `name` ("--journal") is an option of `app` or of any of its
// commands that takes a value (a flag takes none).
inline bool takes_value(const CLI::App& app, const std::string& name) {
  if (const CLI::Option* opt = app.get_option_no_throw(name)) return opt->get_type_size() > 0;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (takes_value(*sub, name)) return true;
  }
  return false;
}

}  // namespace usage_detail

// The line for the first option written `--name=` with nothing after '='
// (before a "--"), or nullopt. Call before parsing: CLI11 would fill the
// option with the next word (`--journal= stats init` made a journal named
// stats). The word after an option written `--name VALUE` is its value and
// is not looked at, so `--name --x=` still names something "--x=".
inline std::optional<std::string> empty_option_value(const CLI::App& app, int argc,
                                                     const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (!arg.starts_with("--")) continue;
    const auto eq = arg.find('=');
    if (eq == std::string_view::npos) {
      if (usage_detail::takes_value(app, std::string(arg))) ++i;
      continue;
    }
    if (eq > 2 && eq + 1 == arg.size()) {
      return std::string(arg) + " has no value after '='";
    }
  }
  return std::nullopt;
}

// "forkjournal stats --help": the help of the innermost command parsed, which
// lists the options a usage error is about.
inline std::string help_command(const CLI::App& app) {
  std::string command = app.get_name();
  for (const CLI::App* at = &app; !at->get_subcommands().empty();) {
    at = at->get_subcommands().front();
    command += " " + at->get_name();
  }
  return command + " --help";
}

// One plain line for a CLI11 parse error, without the pointer to the help.
// CLI11's errors carry no fields, so the wording of the ones rephrased
// (CLI11 2.1, Debian 12) is matched; any other keeps CLI11's own message.
inline std::string usage_error(const CLI::App& app, const CLI::ParseError& e) {
  const std::string what = e.what();
  std::smatch m;
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    static const std::regex at_most(R"((.+): At Most \d+ required but received (\d+))");
    static const std::regex missing(R"((.+): \d+ required .* missing)");
    if (std::regex_match(what, m, at_most)) {
      return m[1].str() + " given " + (m[2] == "2" ? std::string("twice") : m[2].str() + " times");
    }
    if (std::regex_match(what, m, missing)) return m[1].str() + " needs a value";
  }
  // Not by get_name(): an app's ExtrasError is named after the app.
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    const std::vector<std::string> extra = app.remaining(true);
    if (extra.size() == 1) {
      return (extra[0].starts_with('-') ? "unknown option '" : "unexpected argument '") + extra[0] +
             "'";
    }
    if (!extra.empty()) {
      std::string line = "unexpected arguments";
      for (const std::string& word : extra) line += " '" + word + "'";
      return line;
    }
  }
  return what;
}

}  // namespace fj
