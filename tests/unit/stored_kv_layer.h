#pragma once
// A layer of K/V cache rows of any KV cache type for the attention kernel tests.
#include <cstdint>
#include <random>
#include <vector>

#include "attention_reference.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/kv_quantize.h"
#include "backends/cpu/quant_kernels.h"

namespace jisu::cpu {

inline std::vector<float> normal_values(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

// A layer of K/V rows of the given types with a scattered block table, plus the rows as decoded
// floats (what every kernel must compute with).
struct StoredLayer {
  std::vector<uint8_t> keys, values;
  std::vector<float> original_keys, original_values, decoded_keys, decoded_values;
  std::vector<int32_t> table;
  KvLayerRows rows, decoded, original;  // decoded and original: the floats as f32 rows
  StoredLayer(DType key_type, DType value_type, int32_t head_dim, int32_t n_kv_heads, int32_t block_size,
              std::mt19937& rng, int32_t n_blocks = 16) {
    // A scattered table: block i of the sequence is stored at (7 * i + 9) mod n_blocks (7 is
    // coprime to every n_blocks used, so each block is used once).
    for (int32_t i = 0; i < n_blocks; ++i) table.push_back((7 * i + 9) % n_blocks);
    const int32_t kv_dim = head_dim * n_kv_heads;
    const size_t n_rows = size_t(n_blocks) * size_t(block_size), dim = size_t(kv_dim);
    original_keys = normal_values(n_rows * dim, rng);
    original_values = normal_values(n_rows * dim, rng);
    keys.resize(n_rows * row_bytes(key_type, dim));
    values.resize(n_rows * row_bytes(value_type, dim));
    decoded_keys.resize(n_rows * dim);
    decoded_values.resize(n_rows * dim);
    for (size_t r = 0; r < n_rows; ++r) {
      uint8_t* key_row = keys.data() + r * row_bytes(key_type, dim);
      uint8_t* value_row = values.data() + r * row_bytes(value_type, dim);
      quantize_kv_row(key_type, original_keys.data() + r * dim, key_row, dim);
      quantize_kv_row(value_type, original_values.data() + r * dim, value_row, dim);
      dequantize_row_scalar(key_type, key_row, decoded_keys.data() + r * dim, dim);
      dequantize_row_scalar(value_type, value_row, decoded_values.data() + r * dim, dim);
    }
    rows = KvLayerRows{keys.data(), values.data(), table.data(), block_size, kv_dim, key_type, value_type};
    decoded = f32_rows(decoded_keys.data(), decoded_values.data(), table.data(), block_size, kv_dim);
    original = f32_rows(original_keys.data(), original_values.data(), table.data(), block_size, kv_dim);
  }
};

}  // namespace jisu::cpu
