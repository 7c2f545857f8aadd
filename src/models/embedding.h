#pragma once
// Token embedding lookup: one dequantized row of token_embedding, scaled by sqrt(n_embd) for
// architectures that scale their input (gemma). Shared by the CPU and CUDA forward passes
// (the CUDA backend embeds on the host and uploads the rows with the step's other inputs).
#include <cstdint>

#include "models/model_config.h"
#include "models/model_weights.h"

namespace jisu {

// row receives n_embd floats; token must be in [0, n_vocab).
void embed_token(const ModelConfig& config, const ModelWeights& weights, int32_t token, float* row);

}  // namespace jisu
