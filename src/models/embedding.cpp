#include "models/embedding.h"

#include <cmath>

#include "backends/cpu/ops.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu {

void embed_token(const ModelConfig& config, const ModelWeights& weights, int32_t token, float* row) {
  const auto d = static_cast<size_t>(config.n_embd);
  const WeightMatrix& embedding = weights.token_embedding;
  cpu::dequantize_row(embedding.type, embedding.row(token), row, d);
  if (config.arch.scale_embeddings) cpu::scale_in_place(row, std::sqrt(static_cast<float>(config.n_embd)), d);
}

}  // namespace jisu
