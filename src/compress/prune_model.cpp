#include "compress/prune_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <regex>
#include <vector>

#include "backends/cpu/quant_kernels.h"
#include "backends/weight_types.h"
#include "compress/chunked_evaluation.h"
#include "compress/importance_matrix.h"
#include "compress/quantize_row.h"
#include "compress/sparse_rows.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "format/gguf_file.h"
#include "format/gguf_writer.h"
#include "models/model.h"

namespace jisu::compress {
namespace {

using Clock = std::chrono::steady_clock;

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What is kept of each row of one tensor.
struct RowRule {
  size_t group = 0;   // N:M: m; unstructured: 0 (the whole row)
  size_t keep = 0;    // per group (N:M) or per row
};

struct TensorPlan {
  const gguf::TensorInfo* tensor;
  DType output_type;
  RowRule rule;
  const ImportanceEntry* importance = nullptr;
};

// Mean squared input per column, from calibration text run through the model (Wanda).
ImportanceMatrix gather_input_norms(const PruneOptions& options, ThreadPool& pool, std::FILE* log) {
  const std::vector<int32_t>& tokens = options.calibration_tokens;
  // At least two chunks: one chunk of text is too little to rank columns by.
  const size_t needed = 2 * static_cast<size_t>(options.calibration_ctx);
  if (tokens.size() < needed)
    throw Error("the calibration text '" + options.calibration_text + "' is too short: " +
                    std::to_string(tokens.size()) + " tokens, Wanda needs at least " + std::to_string(needed) +
                    " (two chunks of --calib-ctx " + std::to_string(options.calibration_ctx) + ")",
                "give a longer text");
  const ChunkPlan plan =
      plan_chunks(tokens.size(), options.calibration_ctx, options.calibration_chunks, options.calibration_bos);
  const auto model = Model::load(options.input);
  std::fprintf(log, "wanda: %zu chunks of %d calibration tokens\n", plan.n_chunks, plan.n_ctx);
  ImportanceCollector collector;
  EvaluationOptions evaluation;
  evaluation.linear_observer = &collector;
  evaluate_chunks(*model, pool, tokens, plan, evaluation, [](const ScoredChunk&) {});
  return std::move(collector.matrix());
}

RowRule row_rule(const PruneOptions& options, size_t cols) {
  switch (options.pattern) {
    case PrunePattern::TwoFour: return {4, 2};
    case PrunePattern::FourEight: return {8, 4};
    case PrunePattern::Unstructured: break;
  }
  const auto kept_per_64 = static_cast<size_t>(std::lround(64.0 * (1.0 - options.sparsity)));
  return {0, (cols * kept_per_64 + 32) / 64};  // cols / 64 * K when cols is a multiple of 64
}

}  // namespace

std::optional<PruneMethod> prune_method_from_name(const std::string& name) {
  if (name == "magnitude") return PruneMethod::Magnitude;
  if (name == "wanda") return PruneMethod::Wanda;
  return std::nullopt;
}

std::optional<PrunePattern> prune_pattern_from_name(const std::string& name) {
  if (name == "unstructured") return PrunePattern::Unstructured;
  if (name == "2:4") return PrunePattern::TwoFour;
  if (name == "4:8") return PrunePattern::FourEight;
  return std::nullopt;
}

const char* prune_pattern_name(PrunePattern pattern) {
  switch (pattern) {
    case PrunePattern::TwoFour: return "2:4";
    case PrunePattern::FourEight: return "4:8";
    case PrunePattern::Unstructured: break;
  }
  return "unstructured";
}

PruneReport prune_model(const PruneOptions& options, ThreadPool& pool, std::FILE* log) {
  const auto start = Clock::now();
  const bool n_m = options.pattern != PrunePattern::Unstructured;
  // ---- the options
  if (n_m) {
    if (!std::isnan(options.sparsity) && options.sparsity != 0.5)
      throw Error("the " + std::string(prune_pattern_name(options.pattern)) + " pattern prunes exactly 50 %, not --sparsity " +
                  std::to_string(options.sparsity), "leave out --sparsity or give 0.5");
  } else {
    if (std::isnan(options.sparsity)) throw Error("unstructured pruning needs --sparsity S (0 <= S < 1)");
    if (!(options.sparsity >= 0.0 && options.sparsity < 1.0))
      throw Error("--sparsity must lie in [0, 1), got " + std::to_string(options.sparsity));
    if (std::lround(64.0 * (1.0 - options.sparsity)) < 1)
      throw Error("--sparsity " + std::to_string(options.sparsity) + " keeps none of 64 weights",
                  "the largest is 1 - 1/64 = 0.984");
  }
  if (options.method == PruneMethod::Wanda && options.calibration_text.empty())
    throw Error("--method wanda needs calibration text (--calib FILE)");
  if (options.calibration_ctx < 4) throw Error("--calib-ctx must be at least 4 tokens");
  std::regex pattern;
  try {
    pattern = std::regex(options.tensors);
  } catch (const std::regex_error& error) {
    throw Error("--tensors: '" + options.tensors + "' is not a regular expression: " + error.what());
  }

  // ---- the tensors: every check before any work
  const auto input = gguf::GgufFile::open(options.input);
  std::vector<TensorPlan> plans;
  for (const gguf::TensorInfo& tensor : input->tensors()) {
    if (!std::regex_search(tensor.name, pattern)) continue;
    if (tensor.shape.size() < 2 || !ends_with(tensor.name, ".weight") || tensor.name.find("norm") != std::string::npos)
      continue;  // only weight matrices
    if (tensor.name == "token_embd.weight")
      throw Error("--tensors matches token_embd.weight, a lookup table, not a linear weight", "narrow --tensors");
    if (is_jisu_only(tensor.type))
      throw Error("tensor " + tensor.name + " is in the jisu-only type " + std::string(dtype_name(tensor.type)) +
                      ", which pruning cannot read back (already pruned, or i8_row / cb4)",
                  "prune the float model");
    if (!find_weight_type(tensor.type))
      throw Error("tensor " + tensor.name + " has type " + std::string(dtype_name(tensor.type)) + ", which jisu cannot read");
    const size_t cols = tensor.shape[0];
    const RowRule rule = row_rule(options, cols);
    TensorPlan plan{&tensor, tensor.type, rule};
    if (options.dense_output) {
      if (rule.group && cols % rule.group != 0)
        throw Error("tensor " + tensor.name + " has rows of " + std::to_string(cols) + " weights, which the " +
                    prune_pattern_name(options.pattern) + " pattern cannot divide");
      if (!quantize_supported(tensor.type))
        throw Error("tensor " + tensor.name + " has type " + std::string(dtype_name(tensor.type)) +
                    ", which --dense-output cannot write back");
    } else {
      const size_t block = 64;  // both sparse types (backends/cpu/sparse_blocks.h)
      if (cols % block != 0)
        throw Error("tensor " + tensor.name + " has rows of " + std::to_string(cols) + " weights; sparse " +
                        prune_pattern_name(options.pattern) + " storage needs a multiple of " + std::to_string(block),
                    "narrow --tensors, or write --dense-output");
      plan.output_type =
          n_m ? kJisuNmQ8 : sparse_q8_type(static_cast<uint32_t>(std::lround(64.0 * (1.0 - options.sparsity))));
    }
    plans.push_back(plan);
  }
  if (plans.empty())
    throw Error("no weight matrix of '" + options.input + "' matches --tensors '" + options.tensors + "'");

  // ---- Wanda's input norms
  std::optional<ImportanceMatrix> norms;
  if (options.method == PruneMethod::Wanda) {
    norms = gather_input_norms(options, pool, log);
    for (TensorPlan& plan : plans) {
      plan.importance = norms->find(plan.tensor->name);
      if (!plan.importance)
        throw Error("the calibration run never reached tensor " + plan.tensor->name + ", so Wanda cannot score it");
    }
  }

  // ---- writing
  gguf::GgufWriter writer(input->version() >= 3 ? 3 : input->version());
  writer.copy_metadata(*input);
  writer.set_string("jisu.prune.method", options.method == PruneMethod::Wanda ? "wanda" : "magnitude");
  writer.set_string("jisu.prune.pattern", prune_pattern_name(options.pattern));
  writer.set_bool("jisu.prune.dense_output", options.dense_output);
  PruneReport report;
  report.input_bytes = input->file_size();
  size_t next_plan = 0;
  for (const gguf::TensorInfo& tensor : input->tensors()) {
    if (next_plan == plans.size() || plans[next_plan].tensor != &tensor) {
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
      continue;
    }
    const TensorPlan& plan = plans[next_plan++];
    writer.add_tensor(tensor.name, plan.output_type, tensor.shape, [&, plan](uint8_t* out, size_t) {
      const gguf::TensorInfo& t = *plan.tensor;
      const size_t cols = t.shape[0], rows = t.rows(), rows_per_matrix = t.shape[1];
      const size_t out_row_bytes = row_bytes(plan.output_type, cols);
      std::vector<std::vector<float>> column_norms;
      if (plan.importance)
        for (size_t m = 0; m < plan.importance->n_mat; ++m) {
          column_norms.push_back(norms->mean_squares(t.name, *plan.importance, m, cols));
          for (float& value : column_norms.back()) value = std::sqrt(value);
        }
      struct Scratch {
        std::vector<float> values, scores;
        std::vector<uint8_t> keep;
      };
      std::vector<Scratch> scratch(pool.size(), Scratch{std::vector<float>(cols), std::vector<float>(cols),
                                                        std::vector<uint8_t>(cols)});
      pool.parallel_for(rows, [&](size_t row, size_t thread) {
        Scratch& s = scratch[thread];
        cpu::dequantize_row(t.type, t.data + row * t.row_bytes(), s.values.data(), cols);
        const float* norm = column_norms.empty() ? nullptr : column_norms[row / rows_per_matrix].data();
        for (size_t j = 0; j < cols; ++j) s.scores[j] = std::fabs(s.values[j]) * (norm ? norm[j] : 1.0f);
        if (plan.rule.group)
          keep_largest_per_group(s.scores, plan.rule.keep, plan.rule.group, s.keep);
        else
          keep_largest(s.scores, plan.rule.keep, s.keep);
        uint8_t* dst = out + row * out_row_bytes;
        if (options.dense_output) {
          for (size_t j = 0; j < cols; ++j)
            if (!s.keep[j]) s.values[j] = 0.0f;
          quantize_row(plan.output_type, s.values.data(), dst, cols);
        } else {
          encode_sparse_row(plan.output_type, s.values.data(), s.keep.data(), cols, dst);
        }
      });
      const uint64_t kept = plan.rule.group ? t.element_count / plan.rule.group * plan.rule.keep : rows * plan.rule.keep;
      std::fprintf(log, "%-36s %-6s -> %-20s %6zu x %-6zu kept %5.1f %%\n", t.name.c_str(),
                   std::string(dtype_name(t.type)).c_str(), std::string(dtype_name(plan.output_type)).c_str(), cols, rows,
                   100.0 * static_cast<double>(kept) / static_cast<double>(t.element_count));
      report.weights += t.element_count;
      report.kept += kept;
      ++report.tensors;
    });
  }
  writer.write(options.output);
  report.output_bytes = std::filesystem::file_size(options.output);
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace jisu::compress
