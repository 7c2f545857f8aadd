// `jisu embed -m MODEL (-p TEXT ... | -f FILE) [--pooling mean|cls|last|none] [--no-normalize]
// [--output json|plain]`: embeddings of an encoder model (BERT-class), one vector per input.
// FILE holds one input per line (`-f -`: standard input; blank lines are skipped). Inputs are
// packed into as few forwards as the batch size (-b) and --max-seqs allow.
// json (default): a JSON array with one array of floats per input (with --pooling none, one
// array of per-token arrays per input). plain: one line of space-separated floats per vector
// (--pooling none: one line per token, a blank line after each input).
#include <jisu/serving_engine.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command_registry.h"
#include "core/error.h"
#include "model_loading.h"

namespace jisu::cli {
namespace {

struct EmbedOptions {
  ModelOptions model;
  std::vector<std::string> prompts;
  std::string file;
  std::string pooling = "model";
  bool no_normalize = false;
  std::string output = "json";
  int32_t max_sequences = 32;
  bool quiet = false;
  EmbedOptions() { model.batch = 512; }
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw Error("-f: cannot open " + path, "check the path, or pass -f - to read standard input");
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  if (in.bad()) throw Error("-f: cannot read " + path);
  return lines;
}

// %.9g: every float reads back as itself.
void append_vector(std::string& out, const float* values, size_t n, bool json) {
  char number[32];
  if (json) out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) out += json ? "," : " ";
    std::snprintf(number, sizeof number, "%.9g", static_cast<double>(values[i]));
    out += number;
  }
  if (json) out += ']';
}

std::string format_embeddings(const EmbeddingResult& result, bool json) {
  const auto dims = static_cast<size_t>(result.dimensions);
  const bool per_token = result.pooling == EmbeddingPooling::None;
  std::string out = json ? "[\n" : "";
  for (size_t i = 0; i < result.embeddings.size(); ++i) {
    const std::vector<float>& values = result.embeddings[i];
    const size_t rows = values.size() / dims;
    if (json) out += per_token ? " [" : " ";
    for (size_t r = 0; r < rows; ++r) {
      if (json && r) out += ",";
      append_vector(out, values.data() + r * dims, dims, json);
      if (!json) out += '\n';
    }
    if (json) {
      if (per_token) out += ']';
      out += i + 1 < result.embeddings.size() ? ",\n" : "\n";
    } else if (per_token) {
      out += '\n';
    }
  }
  if (json) out += "]\n";
  return out;
}

int run_embed(const EmbedOptions& options) {
  EmbeddingOptions embedding;
  if (options.pooling != "model" && !parse_embedding_pooling(options.pooling, embedding.pooling))
    throw Error("--pooling '" + options.pooling + "' is not a pooling", "use mean, cls, last or none");
  embedding.normalize = !options.no_normalize;
  const std::vector<std::string> texts = options.file.empty() ? options.prompts : read_lines(options.file);
  if (texts.empty()) throw Error("nothing to embed", options.file.empty() ? "pass -p TEXT" : "-f: the file has no non-empty line");

  ServingOptions serving = options.model.serving_options();
  serving.max_sequences = options.max_sequences;
  auto engine = load_with_loading_line(serving.model_path, options.quiet, [&] { return ServingEngine::create(serving); });
  if (!engine->is_embedding_model())
    throw Error("the model ('" + engine->summary().architecture + "') is not an embedding model",
                "jisu embed needs an encoder such as a bert GGUF");

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> inputs;
  inputs.reserve(texts.size());
  for (const std::string& text : texts) inputs.push_back(engine->tokenize(text, true, false));
  const EmbeddingResult result = engine->embed(inputs, embedding);
  if (!result.ok) throw Error(result.error);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string text = format_embeddings(result, options.output == "json");
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!options.quiet)
    std::fprintf(stderr, "embedded %zu inputs (%d tokens, pooling %s) in %.3f s: %.1f inputs/s, %d forwards\n",
                 inputs.size(), result.prompt_tokens, std::string(embedding_pooling_name(result.pooling)).c_str(),
                 seconds, static_cast<double>(inputs.size()) / seconds, result.forward_passes);
  return 0;
}

CommandRegistrar registrar{
    "embed", "Embeddings of texts with an encoder model (BERT-class)", [](CLI::App& command) {
      auto options = std::make_shared<EmbedOptions>();
      add_model_options(command, options->model);
      auto* prompt = command.add_option("-p,--prompt", options->prompts, "a text to embed (repeat for several)");
      auto* file = command.add_option("-f,--file", options->file, "one text per line (- : standard input)");
      prompt->excludes(file);
      command.add_option("--pooling", options->pooling, "mean, cls, last or none (default: the model's pooling_type)");
      command.add_flag("--no-normalize", options->no_normalize, "keep the raw vectors (default: L2 norm 1)");
      command.add_option("--output", options->output, "json or plain")->check(CLI::IsMember({"json", "plain"}));
      command.add_option("--max-seqs", options->max_sequences, "inputs per forward at most")->check(CLI::Range(1, 1024));
      command.add_flag("-q,--quiet", options->quiet, "no loading line or speed on stderr");
      return [options, prompt, file] {
        if (prompt->count() == 0 && file->count() == 0) throw Error("nothing to embed", "pass -p TEXT or -f FILE");
        return run_embed(*options);
      };
    }};

}  // namespace
}  // namespace jisu::cli
