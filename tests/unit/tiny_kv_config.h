#pragma once
// A model shape just big enough for KV cache, prefix cache and scheduler tests that never run
// a forward: the cache's storage stays a few KiB.
#include "models/model_config.h"

namespace jisu::test {

inline ModelConfig tiny_kv_config(int32_t context_length) {
  ModelConfig config;
  config.n_embd = 8;
  config.n_layer = 1;
  config.n_head = 2;
  config.n_head_kv = 1;
  config.head_dim = 4;
  config.context_length = context_length;
  return config;
}

}  // namespace jisu::test
