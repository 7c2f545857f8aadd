#pragma once
// `jisu lowrank`: every chosen 2-D weight of a GGUF model replaced by a low-rank pair
// "<name>.lowrank_a" / "<name>.lowrank_b" (layout: format/weight_matrix.h, LowRankFactors),
// factorised by compress/low_rank_factorization.h, plain or whitened by the calibration inputs'
// Gram matrices (compress/gram_collector.h). The rank of each weight is the largest multiple of
// rank_multiple keeping at most `ratio` of its parameters: r (rows + cols) <= ratio rows cols.
// Everything else is copied as it is. With dense_output the product A B is written back under
// the weight's own name in F32 instead: an ordinary GGUF any engine reads, the same function.
// The output is written atomically (format/gguf_writer.h): an error at any point leaves no file.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "compress/gram_collector.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "format/gguf_file.h"

namespace jisu::compress {

// The linears of the layers: attention Q/K/V (or fused QKV) and output, FFN gate/up/down.
inline constexpr const char* kDefaultLowRankTensors =
    R"(^blk\.[0-9]+\.(attn_q|attn_k|attn_v|attn_qkv|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$)";

struct LowRankOptions {
  std::string output;
  double ratio = 0;                          // in (0, 1]
  int64_t rank_multiple = 32;                // ranks are multiples of this (32: quantizable factors)
  std::string tensors = kDefaultLowRankTensors;  // ECMAScript regex searched in the tensor name
  DType factor_type = DType::F32;            // F32 or F16
  bool dense_output = false;
};

struct LowRankTarget {
  const gguf::TensorInfo* tensor;
  int64_t rows, cols, rank;
  std::string name() const { return tensor->name; }
};

// The weights to factor and their ranks. Throws jisu::Error (before anything is computed) for a
// ratio outside (0, 1], a bad regex or factor type, no eligible tensor matched (2-D *.weight
// matrices other than token_embd, norms and the MoE router), or a rank of zero.
std::vector<LowRankTarget> plan_low_rank(const gguf::GgufFile& input, const LowRankOptions& options);

struct LowRankReport {
  uint64_t params_before = 0, params_after = 0;  // of the factored weights
  double seconds = 0;
};

// Factors the targets (in parallel on `pool`) and writes options.output. grams: null for plain
// SVD, else a Gram matrix for every target (jisu::Error naming the first one without).
LowRankReport write_low_rank_model(const gguf::GgufFile& input, const std::vector<LowRankTarget>& targets,
                                   const LowRankOptions& options, const GramCollector* grams, ThreadPool& pool,
                                   std::FILE* log);

}  // namespace jisu::compress
