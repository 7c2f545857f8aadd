// `jisu`: one binary, one subcommand per file (see command_registry.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "command_registry.h"
#include "core/error.h"

namespace jisu::cli {

std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}

std::string default_model_path() {
  if (const char* env = std::getenv("JISU_DEFAULT_MODEL"); env && *env) return env;
  const std::filesystem::path candidates[] = {
      std::filesystem::path(JISU_SOURCE_DIR) / "models" / "demo-shakespeare.q8_0.gguf",
      std::filesystem::path("models") / "demo-shakespeare.q8_0.gguf",
  };
  for (const auto& path : candidates)
    if (std::filesystem::exists(path)) return path.string();
  throw Error("the bundled default model was not found", "pass a model with -m FILE.gguf");
}

}  // namespace jisu::cli

int main(int argc, char** argv) {
  CLI::App app{"jisu: fast LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "jisu 0.1.0");
  auto& registry = jisu::cli::command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, jisu::cli::CommandRunner> runners;
  for (auto& entry : registry) {
    CLI::App* command = app.add_subcommand(entry.name, entry.description);
    runners[command] = entry.setup(*command);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    for (auto& [command, runner] : runners)
      if (command->parsed()) return runner();
  } catch (const jisu::Error& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", error.one_line().c_str());
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
