#pragma once
// Unstructured and N:M pruning of a GGUF model's linear weights (`jisu prune`).
//
// Each chosen weight matrix is pruned row by row (per output row): the weights of smallest
// score are removed, where the score is |W_ij| (magnitude) or |W_ij| * ||X_j||_2 (Wanda: the
// input column's norm over calibration text, from the importance matrix's mean squared input).
// Unstructured pruning keeps the same count in every row: n / 64 * K with K = round(64 (1 - S)),
// so the reached sparsity is 1 - K / 64. N:M keeps N of every M consecutive weights (2:4, 4:8).
// The output holds the pruned matrices in the jisu-only sparse types (backends/cpu/
// sparse_blocks.h: int8 values with a scale per block), or with dense_output the same zeros in
// the matrix's own type, for other engines and for quality comparisons. Every other tensor and
// the metadata are copied; jisu.prune.* records what was done. Nothing is written unless the
// whole file is (format/gguf_writer.h writes to a temporary name and renames).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace jisu::compress {

enum class PruneMethod { Magnitude, Wanda };
enum class PrunePattern { Unstructured, TwoFour, FourEight };

std::optional<PruneMethod> prune_method_from_name(const std::string& name);    // "magnitude", "wanda"
std::optional<PrunePattern> prune_pattern_from_name(const std::string& name);  // "unstructured", "2:4", "4:8"
const char* prune_pattern_name(PrunePattern pattern);

// The linear weights of the transformer layers (attention and feed-forward projections).
inline constexpr const char* kDefaultPruneTensors =
    R"(^blk\.[0-9]+\.(attn_q|attn_k|attn_v|attn_qkv|attn_output|ffn_gate|ffn_up|ffn_down)(_exps)?\.weight$)";

struct PruneOptions {
  std::string input, output;
  double sparsity = std::nan("");  // unstructured: required, in [0, 1); N:M: 0.5 or unset (NaN)
  PruneMethod method = PruneMethod::Magnitude;
  PrunePattern pattern = PrunePattern::Unstructured;
  std::string calibration_text;  // path (for messages); required by Wanda
  std::vector<int32_t> calibration_tokens;  // its tokens (the caller tokenizes: the ladder)
  int32_t calibration_bos = -1;             // BOS id when the vocabulary adds one, else -1
  int32_t calibration_ctx = 128;  // tokens per calibration chunk
  size_t calibration_chunks = 0;  // at most this many (0: all)
  std::string tensors = kDefaultPruneTensors;  // regular expression over tensor names
  bool dense_output = false;
};

struct PruneReport {
  size_t tensors = 0;
  uint64_t weights = 0, kept = 0;  // over the pruned tensors
  uint64_t input_bytes = 0, output_bytes = 0;
  double seconds = 0;
};

// Checks every option and every chosen tensor before computing anything; throws jisu::Error
// (one line naming the problem) and leaves no output file. Progress goes to `log`.
PruneReport prune_model(const PruneOptions& options, ThreadPool& pool, std::FILE* log);

}  // namespace jisu::compress
