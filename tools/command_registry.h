#pragma once
// Each `jisu` subcommand lives in its own tools/command_*.cpp and registers itself with a
// static CommandRegistrar, so adding a command never edits a shared file.
//   static jisu::cli::CommandRegistrar registrar{"info", "Describe a model file",
//       [](CLI::App& command) { auto options = std::make_shared<Options>(); ...;
//                               return [options] { return run_info(*options); }; }};
// The runner returns the process exit code; it reports user errors by throwing jisu::Error.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace jisu::cli {

using CommandRunner = std::function<int()>;
using CommandSetup = std::function<CommandRunner(CLI::App&)>;

struct CommandEntry {
  std::string name;
  std::string description;
  CommandSetup setup;
};

std::vector<CommandEntry>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string description, CommandSetup setup) {
    command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

// Path of the bundled default model (models/ in the source tree, or next to the binary).
std::string default_model_path();

// A CLI11 parse error's message with each long option name replaced by the short one the user
// typed, if that is what was typed.
std::string name_flags_as_typed(std::string message, const CLI::App& app, int argc, char** argv);

}  // namespace jisu::cli
