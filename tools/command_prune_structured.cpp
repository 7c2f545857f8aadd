#include "command_prune_structured.h"

#include <cstdio>
#include <memory>
#include <sstream>

#include "compress/importance_matrix.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::cli {
namespace {

int32_t parse_layer_number(const std::string& item, const std::string& text) {
  size_t used = 0;
  long value = -1;
  try {
    value = std::stol(item, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != item.size() || value < 0 || value > (1 << 20))
    throw Error("--drop-layers '" + text + "' is neither a count nor a comma-separated list of layers",
                "e.g. --drop-layers 2 (the two least important) or --drop-layers 3,5 (or 3, for layer 3 alone)");
  return static_cast<int32_t>(value);
}

void parse_drop_layers(const std::string& text, compress::StructuredPruneOptions& prune) {
  if (text.empty()) return;
  if (text.find(',') == std::string::npos) {
    prune.drop_layer_count = parse_layer_number(text, text);
    return;
  }
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) prune.drop_layers.push_back(parse_layer_number(item, text));
}

}  // namespace

void add_structured_prune_options(CLI::App& command, StructuredPruneCommandOptions& options) {
  command.add_option("--ffn-keep", options.prune.ffn_keep, "fraction of FFN neurons kept per layer, in (0, 1]");
  command.add_option("--heads-keep", options.prune.heads_keep,
                     "fraction of KV groups (a KV head and its query heads) kept per layer, in (0, 1]");
  command.add_option("--drop-layers", options.drop_layers,
                     "N: drop the N least important layers; I,J,...: drop those layers (I, for one)");
}

int run_structured_prune(StructuredPruneCommandOptions& options) {
  parse_drop_layers(options.drop_layers, options.prune);
  const auto model = Model::load(options.input);
  compress::check_structured_pruning(*model, options.prune);
  const bool needs_calibration =
      options.prune.ffn_keep < 1 || options.prune.heads_keep < 1 || options.prune.drop_layer_count > 0;
  if (needs_calibration && options.calibration.text_file.empty())
    throw Error("structured pruning by importance needs a calibration text (--calib TEXT)");
  compress::ImportanceCollector collector;
  if (needs_calibration) {
    ThreadPool pool(options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count());
    observe_calibration_text(*model, pool, options.calibration, collector);
  }
  const compress::StructuredPlan plan = compress::plan_structured_pruning(*model, collector.matrix(), options.prune);
  compress::write_structured_model(*model, plan, options.prune.output);
  const ModelConfig& config = model->config();
  std::fprintf(stderr, "wrote %s: %zu of %d layers, FFN %d of %d, heads %d/%d of %d/%d (query/KV)\n",
               options.prune.output.c_str(), plan.kept_layers.size(), config.n_layer, plan.n_ff, config.n_ff, plan.n_head,
               plan.n_head_kv, config.n_head, config.n_head_kv);
  return 0;
}

}  // namespace jisu::cli
