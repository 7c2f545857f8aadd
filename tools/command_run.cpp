// `jisu run`: generate text from a prompt, streamed to stdout; speeds on stderr at the end.
// The prompt comes from -p TEXT, -f FILE or `-f -` (standard input).
#include <jisu/engine.h>
#include <jisu/json_nesting.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "command_registry.h"
#include "core/error.h"
#include "model_loading.h"
#include "sampling_options.h"
#include "speculative_options.h"
#include "runtime/grammar/gbnf_grammar.h"
#include "server/json_schema_grammar.h"

namespace jisu::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  std::string prompt_file;
  SpeculativeOptions speculative;
  std::string grammar_file;
  std::string json_schema;
  bool quiet = false;
  SamplingParams sampling;
  RunOptions() { sampling.max_tokens = 128; }
};

std::string read_prompt_file(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("-f: cannot open " + path, "check the path, or pass -f - to read standard input");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw Error("-f: cannot read " + path);
  return text;
}

int run_generation(RunOptions& options) {
  validate_sampling_options(options.sampling);
  if (!options.grammar_file.empty()) options.sampling.grammar = read_text_file(options.grammar_file, "--grammar-file");
  if (!options.json_schema.empty()) {
    const bool shallow = json_nesting_depth(options.json_schema, 64) <= 64;
    const nlohmann::json schema = shallow ? nlohmann::json::parse(options.json_schema, nullptr, false) : nlohmann::json();
    if (!shallow || schema.is_discarded())
      throw Error("--json-schema: not a JSON document (of nesting at most 64)", "pass the schema itself, e.g. '{\"type\": \"object\"}'");
    try {
      options.sampling.grammar = server::json_schema_to_gbnf(schema);
    } catch (const server::SchemaError& error) {
      throw Error(std::string("--json-schema: ") + error.what());
    }
  }
  if (!options.sampling.grammar.empty()) (void)parse_gbnf(options.sampling.grammar);  // its errors before the load
  const bool default_model = options.model.model.empty();
  // The bundled model was trained on plays: a speaker's name is its natural opening.
  std::string prompt = options.prompt;
  if (!options.prompt_file.empty()) prompt = read_prompt_file(options.prompt_file);
  else if (prompt.empty() && default_model) prompt = "ROMEO:";

  EngineOptions engine_options = options.model.engine_options();
  options.speculative.apply(engine_options);
  auto engine = load_with_loading_line(engine_options.model_path, options.quiet,
                                       [&] { return Engine::create(engine_options); });

  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  const GenerationResult result = engine->generate(prompt, options.sampling, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!options.quiet) {
    const auto generated = static_cast<double>(result.completion_tokens);
    std::fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f tokens/s)\n", result.prompt_tokens, result.prompt_seconds,
                 result.prompt_seconds > 0 ? result.prompt_tokens / result.prompt_seconds : 0.0);
    std::fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s), finished: %s\n", result.completion_tokens,
                 result.generation_seconds, result.generation_seconds > 0 ? generated / result.generation_seconds : 0.0,
                 std::string(finish_reason_name(result.finish_reason)).c_str());
    if (options.speculative.enabled() && result.forward_steps > 0)
      std::fprintf(stderr, "speculative: %d of %d draft tokens accepted (%.0f %%), %.2f tokens per forward\n",
                   result.accepted_draft_tokens, result.draft_tokens,
                   result.draft_tokens > 0 ? 100.0 * result.accepted_draft_tokens / result.draft_tokens : 0.0,
                   static_cast<double>(result.completion_tokens) / result.forward_steps);
  }
  return 0;
}

CommandRegistrar registrar{
    "run", "Generate text from a prompt (default: the bundled Shakespeare model)", [](CLI::App& command) {
      auto options = std::make_shared<RunOptions>();
      add_model_options(command, options->model);
      auto* prompt = command.add_option("-p,--prompt", options->prompt,
                                        "prompt text [default: \"ROMEO:\" with the bundled model, else empty]");
      command.add_option("-f,--file", options->prompt_file, "read the prompt from FILE (-: standard input)")
          ->excludes(prompt);
      add_speculative_options(command, options->speculative);
      add_sampling_options(command, options->sampling);
      auto* grammar = command.add_option("--grammar-file", options->grammar_file,
                                         "constrain the output to a GBNF grammar (llama.cpp's syntax)");
      command.add_option("-j,--json-schema", options->json_schema,
                         "constrain the output to JSON valid against this JSON Schema (inline JSON)")
          ->excludes(grammar);
      command.add_flag("-q,--quiet", options->quiet, "print neither the loading line nor the speeds");
      return [options] { return run_generation(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
