#pragma once
// The teacher of knowledge distillation: a model of any weight type (quantized included) run
// by the inference engine's batched forward, giving logits for every position of a batch of
// training windows (one sequence each, positions from 0, as the student sees them).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace jisu {
class Model;
class ForwardPass;
class KvCache;
}  // namespace jisu

namespace jisu::train {

class EngineTeacher {
 public:
  EngineTeacher(const std::string& path, ThreadPool& pool, size_t n_seq, size_t seq_len);
  ~EngineTeacher();
  const Model& model() const { return *model_; }
  // logits: [n_seq * seq_len, n_vocab], row t for token t of `tokens`.
  void logits(const int32_t* tokens, float* logits);

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardPass> forward_;
  size_t n_seq_, seq_len_;
};

}  // namespace jisu::train
