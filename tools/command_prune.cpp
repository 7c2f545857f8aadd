// `jisu prune -m IN.gguf -o OUT.gguf --sparsity S [--method magnitude|wanda]
//  [--pattern unstructured|2:4|4:8] [--calib TEXT] [--tensors REGEX] [--dense-output]`:
// unstructured or N:M pruning of the linear weights into jisu's sparse storage
// (compress/prune_model.h).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include "command_registry.h"
#include "command_prune_structured.h"
#include "compress/prune_model.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "format/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct PruneCliOptions {
  compress::PruneOptions options;
  std::string method = "magnitude", pattern = "unstructured";
  int threads = 0;
  bool structured = false;
  StructuredPruneCommandOptions structured_options;
};

// --structured: whole FFN neurons, KV groups and layers go, written as a smaller dense model.
int run_structured(PruneCliOptions& cli) {
  StructuredPruneCommandOptions& structured = cli.structured_options;
  structured.input = cli.options.input;
  structured.prune.output = cli.options.output;
  structured.threads = cli.threads;
  structured.calibration.text_file = cli.options.calibration_text;
  structured.calibration.n_ctx = cli.options.calibration_ctx;
  structured.calibration.max_chunks = cli.options.calibration_chunks;
  return run_structured_prune(structured);
}

int run_prune(PruneCliOptions cli) {
  if (cli.structured) return run_structured(cli);
  compress::PruneOptions& options = cli.options;
  const auto method = compress::prune_method_from_name(cli.method);
  if (!method) throw Error("unknown --method '" + cli.method + "'", "use magnitude or wanda");
  const auto pattern = compress::prune_pattern_from_name(cli.pattern);
  if (!pattern) throw Error("unknown --pattern '" + cli.pattern + "'", "use unstructured, 2:4 or 4:8");
  options.method = *method;
  options.pattern = *pattern;
  if (!options.calibration_text.empty()) {
    std::ifstream in(options.calibration_text, std::ios::binary);
    if (!in) throw Error("cannot open the calibration text '" + options.calibration_text + "'");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto tokenizer = Tokenizer::from_gguf(*gguf::GgufFile::open(options.input));
    options.calibration_tokens = tokenizer->encode(text, true, false);
    const std::vector<int32_t> bos_probe = tokenizer->encode("", true, false);
    if (!bos_probe.empty() && bos_probe.front() == tokenizer->bos_id()) options.calibration_bos = tokenizer->bos_id();
  }
  ThreadPool pool(cli.threads > 0 ? static_cast<size_t>(cli.threads) : ThreadPool::default_thread_count());
  const compress::PruneReport report = compress::prune_model(options, pool, stderr);
  std::fprintf(stderr, "wrote %s: %zu tensors pruned to %.2f %% sparsity (%s, %s%s), %.2f MiB -> %.2f MiB, %.2f s\n",
               options.output.c_str(), report.tensors,
               100.0 * (1.0 - static_cast<double>(report.kept) / static_cast<double>(report.weights)), cli.method.c_str(),
               cli.pattern.c_str(), options.dense_output ? ", dense output" : "",
               static_cast<double>(report.input_bytes) / (1 << 20), static_cast<double>(report.output_bytes) / (1 << 20),
               report.seconds);
  return 0;
}

CommandRegistrar registrar{
    "prune", "Prune linear weights (magnitude or Wanda; unstructured, 2:4 or 4:8) into jisu's sparse storage",
    [](CLI::App& command) {
      auto cli = std::make_shared<PruneCliOptions>();
      compress::PruneOptions& o = cli->options;
      command.add_option("-m,--model", o.input, "input GGUF")->required();
      command.add_option("-o,--output", o.output, "output GGUF")->required();
      auto* sparsity = command.add_option("--sparsity", o.sparsity, "fraction of weights removed, in [0, 1) (N:M: 0.5)");
      auto* method = command.add_option("--method", cli->method, "magnitude (|W|) or wanda (|W| times the input column's norm)");
      auto* pattern = command.add_option("--pattern", cli->pattern, "unstructured, 2:4 or 4:8");
      command.add_option("--calib", o.calibration_text, "calibration text (wanda, --structured)");
      command.add_option("--calib-ctx", o.calibration_ctx, "tokens per calibration chunk")->check(CLI::Range(4, 1 << 20));
      command.add_option("--calib-chunks", o.calibration_chunks, "at most this many calibration chunks (0: all)");
      auto* tensors = command.add_option("--tensors", o.tensors, "regular expression choosing the weight matrices");
      auto* dense = command.add_flag("--dense-output", o.dense_output, "write the zeros into an ordinary GGUF of the input's types");
      command.add_option("-t,--threads", cli->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      command.add_flag("--structured", cli->structured,
                       "structured pruning instead: remove the least important FFN neurons, KV groups (with their "
                       "query heads) and layers, writing a smaller dense model (--ffn-keep, --heads-keep, --drop-layers)")
          ->excludes(sparsity)->excludes(method)->excludes(pattern)->excludes(tensors)->excludes(dense);
      add_structured_prune_options(command, cli->structured_options);
      return [cli] { return run_prune(*cli); };
    }};

}  // namespace
}  // namespace jisu::cli
