#include "train/engine_teacher.h"

#include "core/error.h"
#include "kv/batch.h"
#include "kv/kv_cache.h"
#include "models/forward_factory.h"
#include "models/model.h"

namespace jisu::train {

EngineTeacher::EngineTeacher(const std::string& path, ThreadPool& pool, size_t n_seq, size_t seq_len)
    : model_(Model::load(path)), n_seq_(n_seq), seq_len_(seq_len) {
  const ModelConfig& config = model_->config();
  if (int64_t(seq_len) > config.context_length)
    throw Error("the training window of " + std::to_string(seq_len) + " tokens exceeds the teacher's context of " +
                std::to_string(config.context_length));
  KvCacheOptions options;
  options.context_length = static_cast<int32_t>(seq_len);
  options.max_sequences = static_cast<int32_t>(n_seq);
  cache_ = std::make_unique<KvCache>(config.context_length, options);
  forward_ = make_forward_pass({Device::Cpu, -1}, config, model_->weights(), pool, static_cast<int32_t>(n_seq * seq_len),
                               *cache_);
}

EngineTeacher::~EngineTeacher() = default;

void EngineTeacher::logits(const int32_t* tokens, float* logits) {
  Batch batch(n_seq_ * seq_len_);
  for (size_t s = 0; s < n_seq_; ++s)
    for (size_t p = 0; p < seq_len_; ++p)
      batch.add(tokens[s * seq_len_ + p], static_cast<int32_t>(p), static_cast<int32_t>(s), true);
  forward_->forward(batch, *cache_, logits);
  for (size_t s = 0; s < n_seq_; ++s) cache_->release(static_cast<int32_t>(s));
}

}  // namespace jisu::train
