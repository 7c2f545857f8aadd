// `jisu lowrank -m IN.gguf -o OUT.gguf --ratio R [--whiten --calib TEXT] [--tensors REGEX]`:
// every chosen weight replaced by a low-rank pair (compress/low_rank_model.h), by truncated SVD,
// or SVD-LLM's activation-whitened SVD with --whiten (the Gram matrices of the weights' inputs
// over the calibration text, tools/calibration_text.h). --dense-output writes the product A B
// back as an ordinary dense GGUF instead.
#include <cstdio>
#include <memory>
#include <set>

#include "calibration_text.h"
#include "command_registry.h"
#include "compress/gram_collector.h"
#include "compress/low_rank_model.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::cli {
namespace {

struct LowRankCommandOptions {
  std::string input;
  compress::LowRankOptions low_rank;
  std::string factor_type = "f32";
  bool whiten = false;
  CalibrationOptions calibration;
  int threads = 0;
};

// A Gram matrix costs cols^2 doubles per weight: refuse what would not fit a workstation.
constexpr uint64_t kMaxGramBytes = uint64_t{8} << 30;

int run_lowrank(LowRankCommandOptions& options) {
  const auto type = dtype_from_name(options.factor_type);
  if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16 && *type != DType::Q8_0))
    throw Error("--type '" + options.factor_type + "' is not a factor type", "use f32, f16, bf16 or q8_0 (or quantize the output)");
  options.low_rank.factor_type = *type;
  if (options.whiten != !options.calibration.text_file.empty())
    throw Error(options.whiten ? "--whiten needs a calibration text (--calib TEXT)" : "--calib is only used with --whiten");
  ThreadPool pool(options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count());
  const auto model = Model::load(options.input);
  const std::vector<compress::LowRankTarget> targets = compress::plan_low_rank(model->file(), options.low_rank);

  std::unique_ptr<compress::GramCollector> grams;
  if (options.whiten) {
    std::set<std::string, std::less<>> names;
    uint64_t gram_bytes = 0;
    for (const auto& target : targets) {
      names.insert(target.name());
      gram_bytes += static_cast<uint64_t>(target.cols) * static_cast<uint64_t>(target.cols) * sizeof(double);
    }
    if (gram_bytes > kMaxGramBytes)
      throw Error("whitening these " + std::to_string(targets.size()) + " weights needs " + std::to_string(gram_bytes >> 20) +
                      " MiB of Gram matrices, more than " + std::to_string(kMaxGramBytes >> 20),
                  "factor fewer tensors per run with --tensors");
    grams = std::make_unique<compress::GramCollector>(std::move(names));
    observe_calibration_text(*model, pool, options.calibration, *grams);
  }
  const compress::LowRankReport report =
      compress::write_low_rank_model(model->file(), targets, options.low_rank, grams.get(), pool, stderr);
  std::fprintf(stderr, "wrote %s: %zu weights %s, %llu -> %llu parameters (%.3f), %.1f s\n",
               options.low_rank.output.c_str(), targets.size(),
               options.low_rank.dense_output ? "as dense products" : "factored",
               static_cast<unsigned long long>(report.params_before), static_cast<unsigned long long>(report.params_after),
               static_cast<double>(report.params_after) / static_cast<double>(report.params_before), report.seconds);
  return 0;
}

CommandRegistrar registrar{
    "lowrank", "Factor weights into low-rank pairs by truncated SVD (SVD-LLM whitening with --whiten)",
    [](CLI::App& command) {
      auto options = std::make_shared<LowRankCommandOptions>();
      command.add_option("-m,--model", options->input, "input GGUF model")->required();
      command.add_option("-o,--output", options->low_rank.output, "output GGUF")->required();
      command.add_option("--ratio", options->low_rank.ratio, "fraction of each weight's parameters kept, in (0, 1]")
          ->required();
      command.add_flag("--whiten", options->whiten, "whiten by the calibration inputs (SVD-LLM)");
      command.add_option("--calib", options->calibration.text_file, "calibration text (with --whiten)");
      command.add_option("-c,--ctx-size", options->calibration.n_ctx, "calibration tokens per chunk")
          ->check(CLI::Range(4, 1 << 20));
      command.add_option("--chunks", options->calibration.max_chunks, "at most this many calibration chunks (0: all)");
      command.add_option("--tensors", options->low_rank.tensors, "regex of the weights to factor")
          ->default_str("the attention and FFN linears of every layer");
      command.add_option("--rank-multiple", options->low_rank.rank_multiple, "ranks are multiples of this")
          ->check(CLI::Range(1, 1 << 20))
          ->default_val(32);
      command.add_option("--type", options->factor_type, "factor type: f32, f16, bf16 or q8_0")->default_val("f32");
      command.add_flag("--dense-output", options->low_rank.dense_output,
                       "write the products A B as ordinary dense weights instead of pairs");
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      return [options] { return run_lowrank(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
