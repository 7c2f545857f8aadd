// `jisu`: one binary, one subcommand per file (see command_registry.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string_view>
#include <unistd.h>

#include "command_registry.h"
#include "core/error.h"
#include "models/grid_forward.h"
#include "parallel/world.h"

namespace jisu::cli {

std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}

std::string default_model_path() {
  if (const char* env = std::getenv("JISU_DEFAULT_MODEL"); env && *env) return env;
  // The source tree it was built from, the current folder, then where `cmake --install` puts
  // it beside the binary (PREFIX/bin/jisu -> PREFIX/share/jisu/).
  std::error_code error;
  const std::filesystem::path binary_dir = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
  const std::filesystem::path candidates[] = {
      std::filesystem::path(JISU_SOURCE_DIR) / "models" / "demo-shakespeare.q8_0.gguf",
      std::filesystem::path("models") / "demo-shakespeare.q8_0.gguf",
      binary_dir / ".." / "share" / "jisu" / "demo-shakespeare.q8_0.gguf",
  };
  for (const auto& path : candidates)
    if (std::filesystem::exists(path)) return path.string();
  throw Error("the bundled default model was not found", "pass a model with -m FILE.gguf");
}

// CLI11 names an option by its long name ("--threads: Value 5000 not in range"); a user who
// typed -t should read -t.
std::string name_flags_as_typed(std::string message, const CLI::App& app, int argc, char** argv) {
  const auto typed = [&](const std::string& flag, bool is_short) {
    for (int i = 1; i < argc; ++i) {
      const std::string_view argument = argv[i];
      if (argument == flag || argument.starts_with(flag + (is_short ? "" : "="))) return true;
    }
    return false;
  };
  std::vector<const CLI::App*> commands{&app};
  for (const CLI::App* command : app.get_subcommands()) commands.push_back(command);
  for (const CLI::App* command : commands)
    for (const CLI::Option* option : command->get_options())
      for (const std::string& long_name : option->get_lnames()) {
        const std::string flag = "--" + long_name;
        if (message.find(flag) == std::string::npos || typed(flag, false)) continue;
        for (const std::string& short_name : option->get_snames()) {
          if (!typed("-" + short_name, true)) continue;
          for (size_t at = message.find(flag); at != std::string::npos; at = message.find(flag, at))
            message.replace(at, flag.size(), "-" + short_name);
          break;
        }
      }
  return message;
}

}  // namespace jisu::cli

int main(int argc, char** argv) {
  CLI::App app{"jisu: fast LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "jisu 0.1.0");
  // Every option's default shows in --help ("[128]"); subcommands inherit this.
  app.option_defaults()->always_capture_default();
  auto& registry = jisu::cli::command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, jisu::cli::CommandRunner> runners;
  for (auto& entry : registry) {
    CLI::App* command = app.add_subcommand(entry.name, entry.description);
    runners[command] = entry.setup(*command);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    // One line, like every other error, naming the flag as the user typed it.
    std::fprintf(stderr, "error: %s (hint: jisu%s --help lists the options)\n",
                 jisu::cli::name_flags_as_typed(error.what(), app, argc, argv).c_str(),
                 app.get_subcommands().empty() ? "" : (" " + app.get_subcommands().front()->get_name()).c_str());
    return 1;
  }
  try {
    for (auto& [command, runner] : runners)
      if (command->parsed()) return runner();
  } catch (const jisu::GridWorkerFinished& finished) {  // a grid rank other than 0 (models/grid_forward.h)
    return finished.exit_code;
  } catch (const jisu::Error& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", error.one_line().c_str());
    if (jisu::communication_failed()) {  // MPI_Finalize at exit would wait for the dead peer
      std::fflush(stderr);
      _exit(1);
    }
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& error) {  // a bug's exception still gets one line, not an abort
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 1;
}
