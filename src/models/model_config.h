#pragma once
// Hyperparameters of a loaded model, read from GGUF metadata (`<arch>.*` keys) and validated.
#include <cstdint>
#include <string>

#include "models/architecture.h"

namespace jisu {
namespace gguf { class GgufFile; }

// The backend's TransformerShape plus what only the model needs.
struct ModelConfig : TransformerShape {
  ArchitectureTraits arch;
  int32_t n_layer = 0;
  int32_t context_length = 0;  // learned positions: the rows of position_embd, a hard limit
  Pooling pooling = Pooling::None;  // encoders: <arch>.pooling_type, else the architecture's default
};

// Reads and validates; throws jisu::Error naming the key for a missing or impossible value.
ModelConfig read_model_config(const gguf::GgufFile& file);

}  // namespace jisu
