#include "kv/kv_cache.h"

#include <string>

#include "core/error.h"

namespace jisu {
namespace {
int32_t blocks_for(int32_t positions, int32_t block_size) { return (positions + block_size - 1) / block_size; }

int32_t planned_blocks(int32_t model_context_length, const KvCacheOptions& options) {
  const int32_t context = options.context_length > 0 ? options.context_length : model_context_length;
  if (options.block_size <= 0) throw Error("KV block size must be positive");
  if (options.max_sequences <= 0) throw Error("the KV cache needs room for at least one sequence");
  return options.n_blocks > 0 ? options.n_blocks : blocks_for(context, options.block_size) * options.max_sequences;
}
}  // namespace

bool is_kv_cache_type(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::Q8_0 || type == DType::Q4_0;
}

DType parse_kv_cache_type(std::string_view name) {
  const std::optional<DType> type = dtype_from_name(name);
  if (!type || !is_kv_cache_type(*type))
    throw Error("unknown KV cache type '" + std::string(name) + "'", "use f32, f16, q8_0 or q4_0");
  return *type;
}

DType kv_cache_type_or_default(std::string_view name, bool f32_only_backend) {
  if (!name.empty()) return parse_kv_cache_type(name);
  return f32_only_backend ? DType::F32 : DType::F16;
}

size_t kv_position_bytes(DType key_type, DType value_type, int32_t kv_dim) {
  return row_bytes(key_type, static_cast<size_t>(kv_dim)) + row_bytes(value_type, static_cast<size_t>(kv_dim));
}

void check_kv_cache_types(DType key_type, DType value_type, int32_t head_dim) {
  for (const DType type : {key_type, value_type}) {
    const size_t block = traits(type).block_elements;
    if (head_dim <= 0 || static_cast<size_t>(head_dim) % block != 0)
      throw Error("a " + std::string(dtype_name(type)) + " KV cache needs heads of a multiple of " +
                      std::to_string(block) + " values; this model's heads have " + std::to_string(head_dim),
                  "use --cache-type-k/--cache-type-v f32 or f16");
  }
}

KvCache::KvCache(int32_t model_context_length, const KvCacheOptions& options)
    : block_size_(options.block_size),
      context_length_(options.context_length > 0 ? options.context_length : model_context_length),
      key_type_(options.key_type),
      value_type_(options.value_type),
      pool_(planned_blocks(model_context_length, options), options.block_size) {
  if (!is_kv_cache_type(key_type_) || !is_kv_cache_type(value_type_))
    throw Error("the KV cache cannot store " + std::string(dtype_name(is_kv_cache_type(key_type_) ? value_type_ : key_type_)),
                "use f32, f16, q8_0 or q4_0");
  sequences_.resize(static_cast<size_t>(options.max_sequences));
  for (auto& sequence : sequences_) {
    sequence.block_table.reserve(static_cast<size_t>(blocks_for(context_length_, block_size_)));
    sequence.block_hashes.reserve(static_cast<size_t>(blocks_for(context_length_, block_size_)));
  }
}

bool KvCache::reserve(int32_t sequence, int32_t n_positions) {
  if (sequence < 0 || sequence >= max_sequences())
    throw Error("sequence id " + std::to_string(sequence) + " is outside [0, " + std::to_string(max_sequences()) + ")");
  if (n_positions > context_length_)
    throw Error("sequence needs " + std::to_string(n_positions) + " positions but the context holds " +
                    std::to_string(context_length_),
                "shorten the prompt or raise the context length");
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  const int32_t needed = blocks_for(n_positions, block_size_) - static_cast<int32_t>(state.block_table.size());
  if (needed <= 0) return true;
  if (needed > pool_.free_count()) return false;
  for (int32_t i = 0; i < needed; ++i) state.block_table.push_back(pool_.allocate());
  return true;
}

void KvCache::mirror_table(int32_t sequence, std::span<const int32_t> blocks) {
  if (sequence < 0 || sequence >= max_sequences()) throw Error("mirrored sequence id out of range");
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  if (blocks.size() > state.block_table.capacity()) throw Error("mirrored block table longer than a context");
  for (int32_t block : blocks)
    if (block < 0 || block >= pool_.capacity()) throw Error("mirrored block id out of range");
  state.block_table.assign(blocks.begin(), blocks.end());
}

void KvCache::set_length(int32_t sequence, int32_t n_positions) {
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  JISU_ASSERT(n_positions <= static_cast<int32_t>(state.block_table.size()) * block_size_);
  state.length = n_positions;
}

void KvCache::truncate(int32_t sequence, int32_t first_position) {
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  const auto keep = static_cast<size_t>(blocks_for(first_position, block_size_));
  while (state.block_table.size() > keep) {
    pool_.release(state.block_table.back());
    state.block_table.pop_back();
  }
  const auto full = static_cast<size_t>(first_position / block_size_);
  if (state.block_hashes.size() > full) state.block_hashes.resize(full);
  if (state.length > first_position) state.length = first_position;
}

int32_t KvCache::reuse_prefix(int32_t sequence, std::span<const int32_t> tokens) {
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  JISU_ASSERT(state.block_table.empty() && state.length == 0);
  if (tokens.empty()) return 0;
  const auto block = static_cast<size_t>(block_size_);
  const size_t max_blocks = (tokens.size() - 1) / block;  // keep >= 1 token to compute
  uint64_t parent = 0;
  for (size_t i = 0; i < max_blocks; ++i) {
    const std::span<const int32_t> block_tokens = tokens.subspan(i * block, block);
    const uint64_t hash = prefix_block_hash(parent, block_tokens);
    const int32_t cached = pool_.acquire_cached(hash, i == 0 ? -1 : state.block_table[i - 1], block_tokens);
    if (cached < 0) break;
    state.block_table.push_back(cached);
    state.block_hashes.push_back(hash);
    parent = hash;
  }
  state.length = static_cast<int32_t>(state.block_table.size()) * block_size_;
  return state.length;
}

void KvCache::publish_prefix(int32_t sequence, std::span<const int32_t> tokens) {
  SequenceState& state = sequences_[static_cast<size_t>(sequence)];
  JISU_ASSERT(tokens.size() >= static_cast<size_t>(state.length));
  const auto block = static_cast<size_t>(block_size_);
  const auto full = static_cast<size_t>(state.length) / block;
  for (size_t i = state.block_hashes.size(); i < full; ++i) {
    const uint64_t parent = i == 0 ? 0 : state.block_hashes[i - 1];
    const std::span<const int32_t> block_tokens = tokens.subspan(i * block, block);
    const uint64_t hash = prefix_block_hash(parent, block_tokens);
    // false: an equal block is already published (or a colliding hash is taken)
    pool_.publish(state.block_table[i], hash, i == 0 ? -1 : state.block_table[i - 1], block_tokens);
    state.block_hashes.push_back(hash);
  }
}

}  // namespace jisu
