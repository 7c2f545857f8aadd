#pragma once
// Random weights and activations shared by the integer-path tests (row-major and repacked).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"

namespace jisu::cpu {

// Offset of the block's fp16 scale.
inline size_t scale_offset(DType type) {
  switch (type) {
    case DType::Q6_K: return 208;
    case DType::Q3_K: return 108;
    case DType::Q2_K: return 80;
    default: return 0;
  }
}
// Offset of a second fp16 field (the K-quants' dmin), or 0 for none.
inline size_t min_offset(DType type) {
  return type == DType::Q4_K || type == DType::Q5_K ? 2 : type == DType::Q2_K ? 82 : 0;
}

// Every SIMD path this CPU has; each runs its own instantiation of the int8 kernels.
inline std::vector<Isa> simd_isas() {
  std::vector<Isa> isas = supported_isas();
  isas.erase(isas.begin());  // Scalar: the reference
  return isas;
}

// Random blocks; the fp16 scale of each block replaced by a finite value (zero now and then).
inline std::vector<uint8_t> random_weights(DType type, size_t rows, size_t n, std::mt19937& rng) {
  const size_t block_bytes = traits(type).block_bytes;
  std::vector<uint8_t> data(rows * row_bytes(type, n));
  std::uniform_int_distribution<int> byte(0, 255), pick(0, 31);
  std::uniform_real_distribution<float> scale(-0.1f, 0.1f);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  for (size_t b = 0; b < data.size() / block_bytes; ++b) {
    const uint16_t h = pick(rng) == 0 ? 0 : fp32_to_fp16(scale(rng));
    std::memcpy(data.data() + b * block_bytes + scale_offset(type), &h, sizeof h);
    if (min_offset(type) != 0) {
      const uint16_t m = pick(rng) == 0 ? 0 : fp32_to_fp16(scale(rng));
      std::memcpy(data.data() + b * block_bytes + min_offset(type), &m, sizeof m);
    }
  }
  return data;
}

// Normal values with some blocks all zero, some tiny, some large, and exact rounding ties.
inline std::vector<float> random_activations(size_t count, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& f : v) f = normal(rng);
  if (count >= 128) {
    for (size_t j = 0; j < 32; ++j) v[j] = 0.0f;
    for (size_t j = 32; j < 64; ++j) v[j] *= 1e-30f;
    for (size_t j = 64; j < 96; ++j) v[j] *= 1e6f;
    for (size_t j = 96; j < 128; ++j) v[j] = static_cast<float>(static_cast<int>(j) - 112) + 0.5f;  // ties
    v[127] = 127.0f;
  }
  return v;
}

// Quantized by the given path's kernel (Isa::Scalar: the reference).
inline std::vector<ActivationBlock> quantize(const std::vector<float>& x, size_t n, size_t tokens, Isa isa) {
  std::vector<ActivationBlock> q(tokens * n / kActivationBlockElements);
  for (size_t t = 0; t < tokens; ++t)
    kernel_table(isa).quantize_activations(x.data() + t * n, n, q.data() + t * n / kActivationBlockElements);
  return q;
}

inline std::vector<ActivationSuperBlock> quantize_super_blocks(const std::vector<float>& x, size_t n, size_t tokens, Isa isa) {
  std::vector<ActivationSuperBlock> q(tokens * n / kActivationSuperBlockElements);
  for (size_t t = 0; t < tokens; ++t)
    kernel_table(isa).quantize_activations_super_blocks(x.data() + t * n, n, q.data() + t * n / kActivationSuperBlockElements);
  return q;
}

// Generic over the activation layout: Block is ActivationBlock (32 elements) or
// ActivationSuperBlock (256).
template <class Block>
inline constexpr size_t kBlockElements = sizeof(Block::qs);

template <class Block>
size_t activation_row_bytes(size_t n) {
  return n / kBlockElements<Block> * sizeof(Block);
}

template <class Block>
std::vector<Block> quantize_as(const std::vector<float>& x, size_t n, size_t tokens, Isa isa) {
  if constexpr (kBlockElements<Block> == kActivationSuperBlockElements)
    return quantize_super_blocks(x, n, tokens, isa);
  else
    return quantize(x, n, tokens, isa);
}

// Token t's blocks of rows of n elements.
template <class Block>
std::vector<Block> token_row(const std::vector<Block>& xq, size_t t, size_t n) {
  const size_t per_token = n / kBlockElements<Block>;
  return std::vector<Block>(xq.begin() + static_cast<long>(t * per_token), xq.begin() + static_cast<long>((t + 1) * per_token));
}

// The exact (double) dot product of row r's dequantized weights and one token's dequantized
// activations x, and the sum of the products' magnitudes (the scale of rounding bounds).
struct Exact {
  double value = 0, magnitude = 0;
};
template <class Block>
Exact exact_product(DType type, const std::vector<uint8_t>& w, size_t r, size_t n, const Block* x) {
  constexpr size_t kElements = kBlockElements<Block>;
  std::vector<float> row(n);
  dequantize_row_scalar(type, w.data() + r * row_bytes(type, n), row.data(), n);
  Exact e;
  for (size_t k = 0; k < n; ++k) {
    const double product = double(row[k]) * double(x[k / kElements].d) * x[k / kElements].qs[k % kElements];
    e.value += product;
    e.magnitude += std::fabs(product);
  }
  return e;
}

// The determinism invariant: run_one(one token's blocks) gives, bit for bit, that token's rows
// of `all` (the output of all `tokens` tokens in one call, tokens x rows).
template <class Block, class RunOne>
void expect_each_token_alone_gives_its_batch_value(const std::vector<Block>& xq, size_t tokens, size_t n, size_t rows,
                                                   const std::vector<float>& all, RunOne run_one) {
  for (size_t t = 0; t < tokens; ++t) {
    const std::vector<float> single = run_one(token_row(xq, t, n));
    ASSERT_EQ(std::memcmp(single.data(), all.data() + t * rows, rows * sizeof(float)), 0) << "token " << t;
  }
}

// Checks that `slice`, the output of rows [begin, end) over a buffer filled with -1, holds
// exactly the values of `full` in those rows and -1 everywhere else.
inline void expect_row_slice(const std::vector<float>& slice, const std::vector<float>& full, size_t tokens, size_t rows,
                             size_t begin, size_t end) {
  for (size_t t = 0; t < tokens; ++t)
    for (size_t r = 0; r < rows; ++r)
      ASSERT_EQ(slice[t * rows + r], r >= begin && r < end ? full[t * rows + r] : -1.0f) << "token " << t << " row " << r;
}

// run(isa, begin, end): the output (tokens x rows, -1 where not written) of rows [begin, end)
// by the scalar reference (Isa::Scalar) or the SIMD path `isa`. Expects the two bit-identical
// over all rows, and a slice [slice_begin, slice_end) to write exactly those rows' values.
// Returns the SIMD output.
template <class Run>
std::vector<float> expect_simd_equals_reference(Run run, Isa isa, size_t tokens, size_t rows, size_t slice_begin,
                                                size_t slice_end) {
  const std::vector<float> expected = run(Isa::Scalar, 0, rows), got = run(isa, 0, rows);
  EXPECT_EQ(std::memcmp(expected.data(), got.data(), expected.size() * sizeof(float)), 0)
      << isa_name(isa) << " tokens=" << tokens;
  expect_row_slice(run(isa, slice_begin, slice_end), expected, tokens, rows, slice_begin, slice_end);
  return got;
}

}  // namespace jisu::cpu
