#pragma once
// A loaded model: the mapped GGUF file, its validated config and the weight views into it.
// Immutable after load and shared by everything that evaluates it.
#include <memory>
#include <string>

#include "format/gguf_file.h"
#include "models/model_config.h"
#include "models/model_weights.h"

namespace jisu {

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path);  // throws jisu::Error

  const gguf::GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

 private:
  Model() = default;
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace jisu
