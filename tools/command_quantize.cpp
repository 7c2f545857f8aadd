// `jisu quantize IN.gguf OUT.gguf TYPE [-t T] [--imatrix F] [--tensor-type REGEX=TYPE]...
//  [--output-tensor-type T] [--token-embedding-type T] [--pure] [--allow-requantize]`
// (compress/quantize_model.h). TYPE is a file type: a single type (Q4_0, Q8_0, IQ4_NL, ...) or
// a mix (Q4_K_M, Q3_K_S, ...).
#include <cstdio>
#include <memory>

#include "backends/weight_types.h"
#include "command_registry.h"
#include "compress/quantize_model.h"
#include "compress/quantize_row.h"
#include "core/error.h"

namespace jisu::cli {
namespace {

struct QuantizeCliOptions {
  std::string input, output, type;
  int threads = 0;
  std::string imatrix;
  std::vector<std::string> tensor_types;
  std::string output_type, embedding_type;
  bool pure = false;
  bool allow_requantize = false;
};

DType weight_type_from_name(const std::string& name, const std::string& option) {
  const std::optional<DType> type = dtype_from_name(name);
  if (!type || !compress::quantize_supported(*type))
    throw Error(option + ": unknown weight type '" + name + "'",
                "use one of " + supported_weight_type_names());
  return *type;
}

int run_quantize(const QuantizeCliOptions& cli) {
  compress::QuantizeOptions options;
  options.input = cli.input;
  options.output = cli.output;
  const auto file_type = compress::file_type_from_name(cli.type);
  if (!file_type)
    throw Error("unknown quantization type '" + cli.type + "'", "use one of " + compress::file_type_names());
  options.file_type = *file_type;
  options.imatrix = cli.imatrix;
  options.allow_requantize = cli.allow_requantize;
  options.mix.pure = cli.pure;
  if (!cli.output_type.empty()) options.mix.output_type = weight_type_from_name(cli.output_type, "--output-tensor-type");
  if (!cli.embedding_type.empty())
    options.mix.embedding_type = weight_type_from_name(cli.embedding_type, "--token-embedding-type");
  for (const std::string& rule : cli.tensor_types) {
    const size_t equals = rule.rfind('=');
    if (equals == std::string::npos || equals == 0)
      throw Error("--tensor-type '" + rule + "' is not REGEX=TYPE", "e.g. --tensor-type 'attn_v=q8_0'");
    const std::string pattern = rule.substr(0, equals);
    compress::TensorTypeOverride override_rule{{}, pattern, weight_type_from_name(rule.substr(equals + 1), "--tensor-type")};
    try {
      override_rule.pattern = std::regex(pattern);
    } catch (const std::regex_error& error) {
      throw Error("--tensor-type: '" + pattern + "' is not a regular expression: " + error.what());
    }
    options.mix.overrides.push_back(std::move(override_rule));
  }
  ThreadPool pool(cli.threads > 0 ? static_cast<size_t>(cli.threads) : ThreadPool::default_thread_count());
  const compress::QuantizeReport report = compress::quantize_model(options, pool, stderr);
  std::fprintf(stderr,
               "wrote %s as %s%s with %zu threads: %.2f MiB -> %.2f MiB (%.3f bits per quantized weight, counting "
               "the whole file), %.2f s\n",
               cli.output.c_str(), std::string(options.file_type.name).c_str(),
               cli.imatrix.empty() ? "" : (" with importance matrix " + cli.imatrix).c_str(), pool.size(), static_cast<double>(report.input_bytes) / (1 << 20),
               static_cast<double>(report.output_bytes) / (1 << 20),
               report.weights ? 8.0 * static_cast<double>(report.output_bytes) / static_cast<double>(report.weights) : 0.0,
               report.seconds);
  return 0;
}

CommandRegistrar registrar{
    "quantize", "Quantize a GGUF model to a type or mix (Q4_K_M, Q8_0, ...), optionally with an importance matrix",
    [](CLI::App& command) {
      auto options = std::make_shared<QuantizeCliOptions>();
      command.add_option("input", options->input, "input GGUF (F32/F16/BF16 weights)")->required();
      command.add_option("output", options->output, "output GGUF")->required();
      command.add_option("type", options->type, "file type: " + compress::file_type_names())->required();
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      command.add_option("--imatrix", options->imatrix, "importance matrix GGUF (jisu imatrix or llama-imatrix)");
      command.add_option("--tensor-type", options->tensor_types, "REGEX=TYPE: tensors whose name matches get TYPE");
      command.add_option("--output-tensor-type", options->output_type, "type of output.weight");
      command.add_option("--token-embedding-type", options->embedding_type, "type of token_embd.weight");
      command.add_flag("--pure", options->pure, "every weight the base type (no mix)");
      command.add_flag("--allow-requantize", options->allow_requantize, "accept already-quantized input");
      return [options] { return run_quantize(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
