// `jisu quantize IN.gguf OUT.gguf TYPE [-t T] [--imatrix F] [--tensor-type REGEX=TYPE]...
//  [--output-tensor-type T] [--token-embedding-type T] [--pure] [--allow-requantize] [--keep REGEX]...`
// (compress/quantize_model.h). TYPE is a file type: a single type (Q4_0, Q8_0, IQ4_NL, ...) or
// a mix (Q4_K_M, Q3_K_S, ...). Instead of TYPE, `--target-bpw B --calib TEXT` chooses the types
// per tensor by measured sensitivity (quantize_target_bpw.h).
#include <cstdio>
#include <memory>

#include "backends/weight_types.h"
#include "command_registry.h"
#include "compress/mixed_precision.h"
#include "compress/quantize_model.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "quantize_target_bpw.h"

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
  std::vector<std::string> keep;
  TargetBpwOptions target;  // target.target_bpw > 0: --target-bpw instead of TYPE
};

std::vector<std::regex> keep_patterns(const std::vector<std::string>& patterns) {
  std::vector<std::regex> compiled;
  for (const std::string& pattern : patterns) try {
      compiled.emplace_back(pattern);
    } catch (const std::regex_error& error) {
      throw Error("--keep: '" + pattern + "' is not a regular expression: " + error.what());
    }
  return compiled;
}

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
  const bool target_bpw = cli.target.target_bpw != 0;
  if (target_bpw && !cli.type.empty())
    throw Error("give either a TYPE or --target-bpw, not both (got '" + cli.type + "')");
  if (!target_bpw && cli.type.empty()) throw Error("give a TYPE (e.g. Q4_K_M) or --target-bpw B --calib TEXT");
  if (!target_bpw && (!cli.target.calibration_text.empty() || !cli.target.candidates.empty()))
    throw Error("--calib and --candidates go with --target-bpw");
  if (target_bpw && (cli.pure || !cli.tensor_types.empty() || !cli.output_type.empty() || !cli.embedding_type.empty()))
    throw Error("--pure, --tensor-type, --output-tensor-type and --token-embedding-type go with a fixed TYPE",
                "with --target-bpw, choose the types offered with --candidates and fix tensors with --keep");
  if (!target_bpw) {
    const auto file_type = compress::file_type_from_name(cli.type);
    if (!file_type)
      throw Error("unknown quantization type '" + cli.type + "'", "use one of " + compress::file_type_names());
    options.file_type = *file_type;
  }
  options.keep = keep_patterns(cli.keep);
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
  if (target_bpw) choose_types_for_target_bpw(cli.target, options, pool);
  const compress::QuantizeReport report = compress::quantize_model(options, pool, stderr);
  std::fprintf(stderr,
               "wrote %s as %s%s%s with %zu threads: %.2f MiB -> %.2f MiB (%.3f bits per quantized weight, counting "
               "the whole file), %.2f s\n",
               cli.output.c_str(), target_bpw ? "a mix for --target-bpw, general.file_type " : "",
               std::string(options.file_type.name).c_str(),
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
      command.add_option("type", options->type, "file type: " + compress::file_type_names() + " (or --target-bpw)");
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      command.add_option("--imatrix", options->imatrix, "importance matrix GGUF (jisu imatrix or llama-imatrix)");
      command.add_option("--tensor-type", options->tensor_types, "REGEX=TYPE: tensors whose name matches get TYPE");
      command.add_option("--output-tensor-type", options->output_type, "type of output.weight");
      command.add_option("--token-embedding-type", options->embedding_type, "type of token_embd.weight");
      command.add_flag("--pure", options->pure, "every weight the base type (no mix)");
      command.add_flag("--allow-requantize", options->allow_requantize, "accept already-quantized input");
      command.add_option("--keep", options->keep, "REGEX: matching tensors stay unquantized (input type); repeatable");
      command.add_option("--target-bpw", options->target.target_bpw,
                         "bits per weight: choose each tensor's type by measured KL divergence (needs --calib)")
          ->check(CLI::Range(0.001, 64.0));
      command.add_option("--calib", options->target.calibration_text, "calibration text for --target-bpw");
      command.add_option("--candidates", options->target.candidates,
                         std::string("types --target-bpw chooses from (default ") + compress::kDefaultCandidateTypes + ")");
      command.add_option("--calib-chunks", options->target.calibration_chunks,
                         "calibration chunks, spread over the text (default 8)");
      command.add_option("--calib-ctx", options->target.calibration_ctx, "tokens per calibration chunk (default 128)")
          ->check(CLI::Range(4, 1 << 20));
      return [options] { return run_quantize(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
