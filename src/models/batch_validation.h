#pragma once
// The checks every forward pass runs before touching the cache: token ids in the vocabulary,
// sequence ids in the cache, positions continuing each sequence, and cache blocks reserved for
// every position. Shared by the CPU Transformer and the CUDA backend so both reject the same
// batches with the same messages.
#include <cstdint>

#include "kv/batch.h"
#include "kv/kv_cache.h"

namespace jisu {

// Throws jisu::Error (nothing reserved past the failing token's sequence) when the batch is
// invalid or the cache is full. Idempotent: a second call for the same batch changes nothing.
void validate_and_reserve_batch(const Batch& batch, KvCache& cache, int32_t n_vocab, int32_t max_batch_tokens);

}  // namespace jisu
