#pragma once
// Random-weight models of real shapes, for benchmarks (speed does not depend on the values).
// Written as a normal GGUF (llama architecture, a synthetic SentencePiece vocabulary) that
// every jisu command loads like any other model.
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace jisu {

struct ModelShape {
  std::string name;
  int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, context_length;
  float rope_base;
};

const std::vector<ModelShape>& known_model_shapes();
const ModelShape& find_model_shape(const std::string& name);  // throws jisu::Error listing them

// File types: "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_m".
// Per-tensor types follow llama.cpp's choices for that file type (e.g. output.weight is
// Q6_K in a q4_0 file) so sizes and speeds compare with files llama.cpp writes.
// low_rank_ratio > 0: every layer linear is a random low-rank pair (format/weight_matrix.h) of
// the rank `jisu lowrank --ratio` would give it (compress/low_rank_factorization.h, ranks of
// multiples of 32), so factored models of large shapes are benchmarked without their SVDs.
void write_random_model(const ModelShape& shape, const std::string& file_type, const std::string& path,
                        uint64_t seed, size_t threads, double low_rank_ratio = 0);

}  // namespace jisu
