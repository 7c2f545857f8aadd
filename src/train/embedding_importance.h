#pragma once
// The importance of the token embedding's columns, which `jisu imatrix` cannot measure as it
// measures a linear's (the embedding is a lookup: no linear reads it). An error δ in the row
// looked up at a position changes the loss by ΔL ≈ g·δ + ½ δᵀHδ, g = ∂L/∂e the gradient at the
// embedding output; over a calibration text g averages out, and the Fisher information's
// diagonal stands for H: ΔL ≈ ½ Σ_j F_jj δ_j², F_jj = mean over positions of (∂L/∂e_j)².
// So the entry's in_sum2[j] is Σ over positions of (∂L/∂e_j)², counts the positions: the same
// layout (and name, token_embd.weight) as a linear's entry, so `jisu quantize --imatrix` and
// llama.cpp's quantizer weight the embedding rows' columns by it.
//
// L is the summed next-token cross-entropy of each chunk (the chunks of compress/
// chunked_evaluation.h: every position but the last has a target), computed by the trainer's
// backward pass (train/transformer_gradients.h) in float32 on the model's weights dequantized.
#include <cstdio>
#include <optional>
#include <span>
#include <string>

#include "compress/chunked_evaluation.h"
#include "compress/importance_matrix.h"
#include "core/thread_pool.h"
#include "train/train_shape.h"

namespace jisu::train {

// Σ (∂L/∂e_j)² over every position with a target (n_ctx - 1 per chunk, the count) of the
// plan's chunks of `tokens`; `batch_tokens / n_ctx` chunks per pass. `params` in
// ParameterLayout(shape) order. Not floored (see floor_embedding_importance).
// Throws jisu::Error when the loss is not finite.
compress::ImportanceEntry embedding_gradient_squares(const TrainShape& shape, const float* params,
                                           std::span<const int32_t> tokens, const compress::ChunkPlan& plan, size_t batch_tokens,
                                           ThreadPool& pool, std::FILE* log);

// Raises every column to at least kEmbeddingImportanceFloor times the mean column, and rescales
// an entry whose mean per-position square is below 1e-30 to mean 1 (all-zero: every column 1).
// Only relative column weights matter to the quantizer's search; the floor keeps a column that
// the calibration text never moved (gradient 0 or denormal) from being weighted 0, which would
// let the search round its values anywhere.
inline constexpr double kEmbeddingImportanceFloor = 1e-3;
void floor_embedding_importance(compress::ImportanceEntry& entry);

struct EmbeddingImportance {
  std::optional<compress::ImportanceEntry> entry;  // floored; absent when skipped
  std::string skipped;                   // why there is no entry (one line)
};
// The entry for the model file at `model_path`: skipped (not an error) when the trainer has no
// backward pass for its architecture (train::read_parameters: dense llama-family, SiLU gate,
// full RoPE, no biases) or when its output is tied to the embedding (the output layer's entry,
// a linear's, then already holds the name token_embd.weight).
EmbeddingImportance embedding_importance(const std::string& model_path, std::span<const int32_t> tokens,
                                         const compress::ChunkPlan& plan, size_t batch_tokens, ThreadPool& pool,
                                         std::FILE* log);

}  // namespace jisu::train
