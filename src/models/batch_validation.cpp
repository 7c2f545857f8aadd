#include "models/batch_validation.h"

#include <string>

#include "core/error.h"

namespace jisu {

void validate_and_reserve_batch(const Batch& batch, KvCache& cache, int32_t n_vocab, int32_t max_batch_tokens) {
  const size_t n = batch.size();
  if (n == 0) throw Error("empty batch");
  if (n > static_cast<size_t>(max_batch_tokens))
    throw Error("batch of " + std::to_string(n) + " tokens exceeds the planned maximum " + std::to_string(max_batch_tokens));
  for (size_t i = 0; i < n; ++i) {
    const int32_t token = batch.tokens[i];
    if (token < 0 || token >= n_vocab)
      throw Error("token id " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    const int32_t sequence = batch.sequences[i];
    if (sequence < 0 || sequence >= cache.max_sequences())
      throw Error("sequence id " + std::to_string(sequence) + " is outside [0, " + std::to_string(cache.max_sequences()) + ")");
    // The expected position continues the cache and the earlier tokens of this sequence in the
    // batch. Batches are at most a few thousand tokens, so the backwards scan stays cheap.
    int32_t expected = cache.length(sequence);
    for (size_t j = i; j-- > 0;) {
      if (batch.sequences[j] == sequence) {
        expected = batch.positions[j] + 1;
        break;
      }
    }
    if (batch.positions[i] != expected)
      throw Error("token " + std::to_string(i) + " of the batch has position " + std::to_string(batch.positions[i]) +
                  " but sequence " + std::to_string(sequence) + " continues at " + std::to_string(expected));
  }
  for (size_t i = 0; i < n; ++i)
    if (!cache.reserve(batch.sequences[i], batch.positions[i] + 1))
      throw Error("the KV cache is full (" + std::to_string(cache.pool().capacity()) + " blocks)",
                  "raise the KV cache size or run fewer sequences at once");
}

}  // namespace jisu
