#pragma once
// Training checkpoints are ordinary GGUF files that every jisu command runs: the parameters as
// F32 tensors under the llama.cpp names, the `<arch>.*` hyperparameters, and the tokenizer
// metadata (tokenizer.*) copied from the file the vocabulary came from. The step reached is in
// `jisu.train.step`. AdamW's moments go to a sidecar GGUF, `<checkpoint>.optimizer`, holding
// two F32 vectors (adam_m, adam_v) in the parameter order, so that a resumed run continues
// exactly where the interrupted one was.
#include <cstdint>
#include <string>
#include <vector>

#include "format/gguf_file.h"
#include "train/train_shape.h"

namespace jisu::train {

// The tokenizer metadata of `file`; jisu::Error when it has no vocabulary (tokenizer.ggml.tokens).
void require_vocabulary(const gguf::GgufFile& file);
int32_t vocabulary_size(const gguf::GgufFile& file);
// True when both files hold the same token strings in the same order.
bool same_vocabulary(const gguf::GgufFile& a, const gguf::GgufFile& b);

// Writes the model atomically (a failure leaves no file and an old file untouched).
void write_checkpoint(const std::string& path, const TrainShape& shape, const float* params,
                      const gguf::GgufFile& tokenizer_file, int64_t step);

struct LoadedParameters {
  TrainShape shape;
  std::vector<float> params;  // in ParameterLayout(shape) order
  int64_t step = 0;           // jisu.train.step, 0 when absent
};
// Reads a llama-family model in any weight type (quantized tensors are dequantized). Throws
// jisu::Error for an architecture or tensor the trainer does not have (biases, MoE, GELU...).
LoadedParameters read_parameters(const std::string& path);

struct OptimizerState {
  int64_t step = 0;
  std::vector<float> m, v;
};
std::string optimizer_state_path(const std::string& checkpoint_path);
void write_optimizer_state(const std::string& checkpoint_path, const OptimizerState& state);
// Throws when the file is missing, malformed or sized for another parameter count.
OptimizerState read_optimizer_state(const std::string& checkpoint_path, size_t n_params);

}  // namespace jisu::train
