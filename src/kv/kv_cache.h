#pragma once
// The paged KV cache's bookkeeping: n_blocks blocks of block_size positions, and for each
// sequence slot its block table, length and prefix hashes. No tensors: each backend stores K/V
// for the layers it runs, in the dtype it chooses, at block_table(s)[p / block_size], slot
// p % block_size for position p of sequence s, and reads only through that table, so
// sequences never see each other's tokens. Written only by the scheduler side (reserve, lengths,
// prefix reuse); backends read the tables.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "kv/kv_block_pool.h"

namespace jisu {

struct KvCacheOptions {
  int32_t block_size = 16;
  int32_t n_blocks = 0;       // 0: enough for max_sequences full contexts
  int32_t max_sequences = 1;
  int32_t context_length = 0; // 0: the model's
  // Element types of the stored keys and values (kv_cache_types: f32, f16, q8_0, q4_0). A
  // backend stores each position's kv_dim values as one row of that type and its attention
  // reads the rows as stored; one it cannot store refuses at plan_kv.
  DType key_type = DType::F32;
  DType value_type = DType::F32;
};

// The types a KV cache may store, and the one a --cache-type-k / --cache-type-v name stands for
// (throws jisu::Error naming the allowed names for anything else).
bool is_kv_cache_type(DType type);
DType parse_kv_cache_type(std::string_view name);
// An empty name: the default, f16, or f32 where the backend stores f32 only (cuda).
DType kv_cache_type_or_default(std::string_view name, bool f32_only_backend);
// Bytes of one position's keys plus values (kv_dim each) for one layer; kv_dim must be a
// multiple of the types' block (checked by kv_cache_type_fits).
size_t kv_position_bytes(DType key_type, DType value_type, int32_t kv_dim);
// Throws jisu::Error unless heads of head_dim values are whole blocks of both types (each head
// of a position row must start a block, so attention can read one head alone).
void check_kv_cache_types(DType key_type, DType value_type, int32_t head_dim);

// Where K/V of the cache's blocks live in a backend's storage: n_blocks * block_size rows.
struct KvGeometry {
  int32_t n_blocks = 0;
  int32_t block_size = 0;
  // The most block-table entries all sequences can hold at once (max_sequences full contexts;
  // shared prefix blocks count once per table), for a backend that stages the tables.
  int32_t max_table_entries = 0;
  DType key_type = DType::F32;    // element types of the rows (KvCacheOptions)
  DType value_type = DType::F32;
};

class KvCache {
 public:
  // model_context_length: what options.context_length == 0 stands for.
  KvCache(int32_t model_context_length, const KvCacheOptions& options);

  int32_t block_size() const { return block_size_; }
  int32_t max_sequences() const { return static_cast<int32_t>(sequences_.size()); }
  int32_t context_length() const { return context_length_; }
  const KvBlockPool& pool() const { return pool_; }
  KvGeometry geometry() const {
    return {pool_.capacity(), block_size_, max_sequences() * ((context_length_ + block_size_ - 1) / block_size_),
            key_type_, value_type_};
  }

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
  // For a grid's other processes, whose cache mirrors rank 0's: the sequence's table becomes
  // `blocks` (rank 0's, sent with the step), without touching the pool. Throws jisu::Error for
  // a sequence, block or table length outside this cache.
  void mirror_table(int32_t sequence, std::span<const int32_t> blocks);
  const std::vector<int32_t>& block_table(int32_t sequence) const {
    return sequences_[static_cast<size_t>(sequence)].block_table;
  }
  // The storage row (block * block_size + slot) of a reserved position.
  int32_t row_of(int32_t sequence, int32_t position) const {
    return block_table(sequence)[static_cast<size_t>(position / block_size_)] * block_size_ + position % block_size_;
  }

 private:
  struct SequenceState {
    std::vector<int32_t> block_table;   // capacity reserved for a full context
    std::vector<uint64_t> block_hashes;  // chained hashes of the leading full blocks (<= table)
    int32_t length = 0;
  };
  int32_t block_size_;
  int32_t context_length_;
  DType key_type_, value_type_;
  KvBlockPool pool_;
  std::vector<SequenceState> sequences_;
};

}  // namespace jisu
