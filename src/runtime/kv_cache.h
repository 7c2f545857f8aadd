#pragma once
// The paged KV cache: storage for n_blocks blocks of block_size positions (all layers), and
// for each sequence slot its block table and length. The forward pass writes K/V for position
// p of sequence s into block_table(s)[p / block_size], slot p % block_size, and reads only
// through that table, so sequences never see each other's tokens.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backends/cpu/attention.h"
#include "models/model_config.h"
#include "runtime/kv_block_pool.h"

namespace jisu {

struct KvCacheOptions {
  int32_t block_size = 16;
  int32_t n_blocks = 0;       // 0: enough for max_sequences full contexts
  int32_t max_sequences = 1;
  int32_t context_length = 0; // 0: the model's
};

class KvCache {
 public:
  KvCache(const ModelConfig& config, const KvCacheOptions& options);

  int32_t block_size() const { return block_size_; }
  int32_t max_sequences() const { return static_cast<int32_t>(sequences_.size()); }
  int32_t context_length() const { return context_length_; }
  const KvBlockPool& pool() const { return pool_; }
  size_t bytes() const { return keys_.size() * sizeof(float) * 2; }

  // Makes room for positions [0, n_positions) of `sequence`; false (and nothing changed) when
  // the pool has too few free blocks. Throws jisu::Error past the context length.
  bool reserve(int32_t sequence, int32_t n_positions);
  // Records that positions [0, n_positions) now hold valid K/V.
  void set_length(int32_t sequence, int32_t n_positions);
  int32_t length(int32_t sequence) const { return sequences_[static_cast<size_t>(sequence)].length; }
  // Forgets the sequence's positions from `first_position` on, releasing whole blocks.
  void truncate(int32_t sequence, int32_t first_position);
  void release(int32_t sequence) { truncate(sequence, 0); }

  // Prefix caching. reuse_prefix: for an empty sequence about to hold `tokens`, takes shared
  // references to the cached blocks matching the longest run of full leading blocks, leaving at
  // least one token to compute (its logits are needed); returns the positions now valid.
  int32_t reuse_prefix(int32_t sequence, std::span<const int32_t> tokens);
  // Publishes every full block of computed positions not yet published; `tokens` holds the
  // sequence's tokens from position 0 (at least its length).
  void publish_prefix(int32_t sequence, std::span<const int32_t> tokens);
  const std::vector<int32_t>& block_table(int32_t sequence) const {
    return sequences_[static_cast<size_t>(sequence)].block_table;
  }

  // Where K and V of one position of one layer live (kv_dim floats each).
  float* key_row(int32_t layer, int32_t sequence, int32_t position);
  float* value_row(int32_t layer, int32_t sequence, int32_t position);
  cpu::KvLayerView layer_view(int32_t layer, int32_t sequence) const;

 private:
  struct SequenceState {
    std::vector<int32_t> block_table;   // capacity reserved for a full context
    std::vector<uint64_t> block_hashes;  // chained hashes of the leading full blocks (<= table)
    int32_t length = 0;
  };
  size_t row_index(int32_t layer, int32_t sequence, int32_t position) const;

  int32_t block_size_;
  int32_t context_length_;
  int32_t kv_dim_;
  size_t layer_stride_;  // floats per layer: n_blocks * block_size * kv_dim
  KvBlockPool pool_;
  std::vector<SequenceState> sequences_;
  std::vector<float> keys_;
  std::vector<float> values_;
};

}  // namespace jisu
