// Repacked integer path: the repacked scalar reference against the row-major int8 reference
// (float reordering only) and the float product of dequantized values, the AVX2 kernels
// against the scalar reference bit for bit for every tile shape and token count, and checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "unit/int8_test_data.h"

namespace jisu::cpu {
namespace {

const DType kRepackTypes[] = {DType::Q4_0, DType::Q8_0, DType::IQ4_NL};

using RepackedFn = void (*)(const RepackedMatmulArgs&);

// xq: ActivationBlock rows, or ActivationSuperBlock rows for the super-block types.
template <class Block>
std::vector<float> run_repacked(RepackedFn fn, DType type, const RepackedWeights& w, size_t rows, size_t n,
                                const std::vector<Block>& xq, size_t tokens, size_t row_begin, size_t row_end,
                                bool one_group_tiles = false) {
  std::vector<float> y(tokens * rows, -1.0f);
  RepackedMatmulArgs args{type, w.data(), w.group_bytes(), n, xq.data(), activation_row_bytes<Block>(n), tokens, y.data(), rows, row_begin, row_end};
  args.one_group_tiles = one_group_tiles;
  fn(args);
  return y;
}

// The row-major scalar reference of the same activation layout.
template <class Block>
std::vector<float> run_row_major(DType type, const std::vector<uint8_t>& w, size_t rows, size_t n, const std::vector<Block>& xq,
                                 size_t tokens) {
  std::vector<float> y(tokens * rows, -1.0f);
  const Int8MatmulArgs args{type, w.data(), row_bytes(type, n), n, reinterpret_cast<const ActivationBlock*>(xq.data()),
                            activation_row_bytes<Block>(n), tokens, y.data(), rows, 0, rows};
  if constexpr (kBlockElements<Block> == kActivationSuperBlockElements)
    matmul_rows_int8_super_blocks_scalar(args);
  else
    matmul_rows_int8_scalar(args);
  return y;
}

TEST(Int8Repacked, OnlyWholeGroupsOf32ElementTypesRepack) {
  EXPECT_TRUE(can_repack(DType::Q4_0, 8, 32));
  EXPECT_TRUE(can_repack(DType::Q8_0, 64, 2048));
  EXPECT_TRUE(can_repack(DType::IQ4_NL, 16, 64));
  EXPECT_FALSE(can_repack(DType::Q4_0, 12, 32));  // a partial group keeps the row-major kernel
  EXPECT_FALSE(can_repack(DType::Q4_0, 0, 32));
  EXPECT_FALSE(can_repack(DType::Q4_0, 8, 48));
  EXPECT_TRUE(can_repack(DType::Q4_K, 8, 256));
  EXPECT_FALSE(can_repack(DType::Q4_K, 8, 128));  // whole super-blocks only
  EXPECT_FALSE(can_repack(DType::Q4_K, 4, 256));
  EXPECT_TRUE(can_repack(DType::Q6_K, 8, 256));
  EXPECT_TRUE(can_repack(DType::Q5_K, 8, 256));
  EXPECT_FALSE(can_repack(DType::Q3_K, 8, 256));
  std::vector<uint8_t> w(12 * 18);
  EXPECT_THROW(RepackedWeights(DType::Q4_0, w.data(), 18, 12, 32), Error);
  EXPECT_EQ(repacked_group_bytes(DType::Q8_0, 2048) % 64, 0u);
  EXPECT_EQ(repacked_group_bytes(DType::Q4_K, 256), 1216u);  // 1184 padded to 64
}

// The scalar repacked reference, which reads the repacked layout (so checks the repacking), on
// random weights and activations in the Block layout: it agrees with the float product of the
// dequantized values (1e-5 relative), and with the row-major reference up to float order,
// within row_major_bound(n) times the magnitude of the terms.
template <class Block, class Bound>
void check_scalar_repacked(DType type, size_t n, std::mt19937& rng, Bound row_major_bound) {
  const size_t rows = 16, tokens = 3;
  const auto w = random_weights(type, rows, n, rng);
  const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
  const auto xq = quantize_as<Block>(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
  const auto expected = run_row_major(type, w, rows, n, xq, tokens);
  const auto got = run_repacked(matmul_repacked_int8_scalar, type, packed, rows, n, xq, tokens, 0, rows);
  for (size_t t = 0; t < tokens; ++t)
    for (size_t r = 0; r < rows; ++r) {
      const Exact e = exact_product(type, w, r, n, xq.data() + t * n / kBlockElements<Block>);
      EXPECT_NEAR(got[t * rows + r], e.value, 1e-5 * e.magnitude + 1e-30) << dtype_name(type) << " n=" << n << " t=" << t << " r=" << r;
      EXPECT_NEAR(got[t * rows + r], expected[t * rows + r], row_major_bound(n) * e.magnitude + 1e-30)
          << dtype_name(type) << " n=" << n << " t=" << t << " r=" << r;
    }
}

// The repacked path sums the same exact integer block sums as the row-major path, only in
// another float order: one fma chain per row instead of 8 lanes reduced at the end. Each path
// rounds at most once per fma step and per reduction add, each error at most 2^-24 times the
// running magnitude, which never exceeds sum |terms|.
TEST(Int8Repacked, ScalarMatchesFloatMathAndRowMajorReferenceUpToFloatOrder) {
  std::mt19937 rng(11);
  for (DType type : kRepackTypes)
    for (size_t n : {32, 256, 2048})
      check_scalar_repacked<ActivationBlock>(type, n, rng, [](size_t n) { return (2.0 * double(n / 32) + 8.0) * 0x1p-24; });
}

// Matrices of several MiB are repacked by several threads, each a slice of the groups; every
// row must come out as the single-threaded layout (checked through the scalar reference).
TEST(Int8Repacked, LargeMatricesRepackedInSlicesKeepEveryRow) {
  std::mt19937 rng(13);
  const DType type = DType::Q8_0;
  const size_t rows = 1032, n = 8192;  // about 9 MiB repacked; 129 groups do not split evenly
  const auto w = random_weights(type, rows, n, rng);
  const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
  const auto xq = quantize(random_activations(n, rng), n, 1, Isa::Scalar);
  const auto expected = run_row_major(type, w, rows, n, xq, 1);
  const auto got = run_repacked(matmul_repacked_int8_scalar, type, packed, rows, n, xq, 1, 0, rows);
  const double steps = 2.0 * double(n / 32) + 8.0;
  for (size_t r = 0; r < rows; ++r)
    ASSERT_NEAR(got[r], expected[r], steps * 0x1p-24 * exact_product(type, w, r, n, xq.data()).magnitude + 1e-30) << r;
}

// Every SIMD path against the scalar reference bit for bit (every row, and a row slice), for
// each type, row length n (with rows_for(n) rows) and token count; and each token alone gives
// its value in the batch.
template <class Block>
void expect_simd_matches_scalar_for_every_tile_shape(const std::vector<DType>& types, const std::vector<size_t>& lengths,
                                                     size_t (*rows_for)(size_t), const std::vector<size_t>& token_counts,
                                                     uint32_t seed) {
  std::mt19937 rng(seed);
  for (Isa isa : simd_isas())
  for (DType type : types) {
    for (size_t n : lengths) {
      const size_t rows = rows_for(n);
      const auto w = random_weights(type, rows, n, rng);
      const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
      for (size_t tokens : token_counts) {
        const auto xq = quantize_as<Block>(random_activations(tokens * n, rng), n, tokens, isa);
        // Both tile forms where the path has two (RepackedMatmulArgs::one_group_tiles).
        for (bool one_group : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n) + " " + std::string(isa_name(isa)) +
                       (one_group ? " one group per tile" : ""));
          expect_simd_equals_reference(
              [&](Isa path, size_t begin, size_t end) {
                return run_repacked(kernel_table(path).matmul_repacked_int8, type, packed, rows, n, xq, tokens, begin, end,
                                    one_group);
              },
              isa, tokens, rows, 8, 24);  // groups 1 and 2: a two-group tile (kTwoGroupTiles) from an odd group
          if (::testing::Test::HasFailure()) return;
        }
        const auto got = run_repacked(kernel_table(isa).matmul_repacked_int8, type, packed, rows, n, xq, tokens, 0, rows);
        expect_each_token_alone_gives_its_batch_value(xq, tokens, n, rows, got, [&](const std::vector<Block>& one) {
          return run_repacked(kernel_table(isa).matmul_repacked_int8, type, packed, rows, n, one, 1, 0, rows);
        });
      }
    }
  }
}

TEST(Int8Repacked, SimdMatchesScalarBitForBitForEveryTileShape) {
  // 272 rows of 2048 columns span more than one 256 KiB row block of the kernel. The AMX path
  // runs blocks 0-7 without scaling, then steps of four, then the rest one at a time: 224
  // columns (7 blocks) take only the last, 256 (8) only the first, 288 (9) the first and the
  // last, 480 (15) all three with a remainder of 3.
  expect_simd_matches_scalar_for_every_tile_shape<ActivationBlock>(
      {std::begin(kRepackTypes), std::end(kRepackTypes)}, {32, 224, 256, 288, 480, 2048}, [](size_t n) -> size_t { return n == 2048 ? 272 : 24; },
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 35}, 12);
}

// The backend hands the repacked kernels their activation tiles (KernelTable::
// prepare_repacked_activation_tiles), made once per input. With them every path still gives
// the scalar reference's bits; and a path that takes tiles must really read them: tiles made
// from other activations change its result, and not the tokens past the whole tiles.
template <class Block>
void expect_given_activation_tiles_give_the_scalar_bits(const std::vector<DType>& types, const std::vector<size_t>& lengths,
                                                        uint32_t seed) {
  std::mt19937 rng(seed);
  for (DType type : types)
    for (size_t n : lengths) {
      const size_t rows = 48;
      const auto w = random_weights(type, rows, n, rng);
      const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
      for (size_t tokens : {size_t(16), size_t(35), size_t(48)}) {
        const auto xq = quantize_as<Block>(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
        const auto other = quantize_as<Block>(random_activations(tokens * n, rng), n, tokens, Isa::Scalar);
        const size_t tiles = tokens / 16, stride = activation_row_bytes<Block>(n);
        const auto expected = run_repacked(matmul_repacked_int8_scalar, type, packed, rows, n, xq, tokens, 0, rows);
        bool some_path_took_tiles = false;
        for (Isa isa : simd_isas()) {
          const KernelTable& kernels = kernel_table(isa);
          SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n) + " tokens=" + std::to_string(tokens) +
                       " " + std::string(isa_name(isa)));
          const size_t bytes = kernels.repacked_activation_tiles_bytes ? kernels.repacked_activation_tiles_bytes(type, tiles, n) : 0;
          if (bytes == 0) continue;
          some_path_took_tiles = true;
          const auto place = [&](const std::vector<Block>& from) {
            auto buffer = std::shared_ptr<uint8_t[]>(new (std::align_val_t(64)) uint8_t[bytes],
                                                     [](uint8_t* p) { ::operator delete[](p, std::align_val_t(64)); });
            // One tile at a time, as the backend's tasks write them.
            for (size_t tile = 0; tile < tiles; ++tile)
              kernels.prepare_repacked_activation_tiles(type, from.data(), stride, n, tiles, tile, tile + 1, buffer.get());
            return buffer;
          };
          const auto run = [&](const uint8_t* given) {
            std::vector<float> y(tokens * rows, -1.0f);
            kernels.matmul_repacked_int8({type, packed.data(), packed.group_bytes(), n, xq.data(), stride, tokens, y.data(),
                                          rows, 0, rows, given, tiles});
            return y;
          };
          const auto got = run(place(xq).get());
          for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], expected[i]) << "output " << i;
          const auto wrong = run(place(other).get());
          EXPECT_NE(wrong[0], expected[0]) << "the given tiles were not read";
          for (size_t i = tiles * 16 * rows; i < got.size(); ++i) ASSERT_EQ(wrong[i], expected[i]) << "output " << i;
        }
        const std::vector<Isa> isas = simd_isas();
        if (std::find(isas.begin(), isas.end(), Isa::Avx512Amx) != isas.end()) {
          EXPECT_TRUE(some_path_took_tiles) << "the AMX path takes activation tiles for " << dtype_name(type);
        }
      }
    }
}

TEST(Int8Repacked, GivenActivationTilesGiveTheScalarBits) {
  expect_given_activation_tiles_give_the_scalar_bits<ActivationBlock>({std::begin(kRepackTypes), std::end(kRepackTypes)},
                                                                      {224, 2048}, 31);
}

// Extreme values: Q8_0 weights of -128 and 127 against activations of +-127 (the largest
// maddubs pair sums), and Q4_0 nibbles of 15 and 0 (the int16 accumulation bound, reached with
// every activation +127 or every one -127, where Q4_0's offset is largest).
TEST(Int8Repacked, ExtremeValuesDoNotSaturate) {
  const size_t rows = 8, n = 64;
  // Pattern 0: +127 but -127 at every fourth element; 1: all +127; 2: all -127.
  const auto activation = [](int pattern, int j) -> int8_t {
    return pattern == 0 ? (j % 4 == 3 ? -127 : 127) : pattern == 1 ? 127 : -127;
  };
  for (int pattern = 0; pattern < 3; ++pattern) {
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::IQ4_NL}) {
    SCOPED_TRACE(std::string(dtype_name(type)) + ", activation pattern " + std::to_string(pattern));
    std::vector<uint8_t> w(rows * row_bytes(type, n));
    const size_t block_bytes = traits(type).block_bytes;
    for (size_t b = 0; b < w.size() / block_bytes; ++b) {
      const uint16_t one = fp32_to_fp16(1.0f);
      std::memcpy(w.data() + b * block_bytes, &one, 2);
      // Rows alternate the most negative and the most positive weight.
      const bool negative = (b / (n / 32)) % 2 == 0;
      for (size_t j = 2; j < block_bytes; ++j)
        w[b * block_bytes + j] = type == DType::Q8_0 ? (negative ? 0x80 : 0x7f) : (negative ? 0x00 : 0xff);
    }
    std::vector<ActivationBlock> xq(n / 32);
    for (auto& x : xq) {
      x.d = 1.0f;
      for (int j = 0; j < 32; ++j) x.qs[j] = activation(pattern, j);
      q4_0_offsets(x.qs, x.q4_0_offsets);
    }
    const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
    const auto expected = run_row_major(type, w, rows, n, xq, 1);
    const auto scalar = run_repacked(matmul_repacked_int8_scalar, type, packed, rows, n, xq, 1, 0, rows);
    for (size_t r = 0; r < rows; ++r) EXPECT_EQ(scalar[r], expected[r]) << dtype_name(type) << " " << r;  // exact integers
    for (Isa isa : simd_isas())
      for (size_t tokens : {1, 4, 16, 17}) {
        std::vector<ActivationBlock> batch;
        for (size_t t = 0; t < tokens; ++t) batch.insert(batch.end(), xq.begin(), xq.end());
        const auto simd = run_repacked(kernel_table(isa).matmul_repacked_int8, type, packed, rows, n, batch, tokens, 0, rows);
        for (size_t r = 0; r < rows; ++r)
          EXPECT_EQ(simd[(tokens - 1) * rows + r], expected[r]) << dtype_name(type) << " " << isa_name(isa) << " " << r;
      }
  }
  }
}

// ---------------------------------------------------------------------------------------------
// Q4_K, Q5_K and Q6_K: super-block activations.

const DType kSuperBlockRepackTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

// As for the 32-element types; the float orders differ by two fma per super-block against 8
// lanes per super-block reduced at the end.
TEST(Int8RepackedSuperBlocks, ScalarMatchesFloatMathAndRowMajorReference) {
  std::mt19937 rng(21);
  for (DType type : kSuperBlockRepackTypes)
    for (size_t n : {256, 512, 2048}) check_scalar_repacked<ActivationSuperBlock>(type, n, rng, [](size_t) { return 2e-6; });
}

TEST(Int8RepackedSuperBlocks, SimdMatchesScalarBitForBitForEveryTileShape) {
  // Groups of 2048 columns: 232 rows are more than one 256 KiB block of the kernel. The AMX path
  // (16+ tokens) takes groups in pairs (24 and 232 rows leave a lone group, and the slice [8, 16)
  // is one group alone), Q4_K / Q5_K super-blocks in pairs for one token tile (768 columns leave
  // one over) and token tiles in pairs (35 and 48 tokens: a pair, 48 one tile more); 17, 31 and
  // 35 tokens leave remainders for the VNNI kernels. 3-9 tokens: every whole and partial VNNI
  // tile of Q4_K (6 tokens; 8 on two groups), Q5_K (4; 6) and Q6_K (4; 8), those of 3 or more
  // tokens on two groups with AVX-512 VNNI (kTwoGroupTiles); 24 and 232 rows are odd numbers of
  // groups (one group alone), and the slice [8, 24) starts a two-group tile at group 1.
  expect_simd_matches_scalar_for_every_tile_shape<ActivationSuperBlock>(
      {std::begin(kSuperBlockRepackTypes), std::end(kSuperBlockRepackTypes)}, {256, 768, 2048},
      [](size_t n) -> size_t { return n == 2048 ? 232 : 24; }, {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 31, 35, 48}, 22);
}

TEST(Int8RepackedSuperBlocks, GivenActivationTilesGiveTheScalarBits) {
  expect_given_activation_tiles_give_the_scalar_bits<ActivationSuperBlock>(
      {std::begin(kSuperBlockRepackTypes), std::end(kSuperBlockRepackTypes)}, {768, 2048}, 33);
}

// Activations of +-127 (three of every four positive): a 16-element sub-block sums to 1016.
std::vector<ActivationSuperBlock> extreme_activations(size_t n) {
  std::vector<ActivationSuperBlock> xq(n / 256);
  for (auto& x : xq) {
    x.d = 1.0f;
    for (int j = 0; j < 256; ++j) x.qs[j] = j % 4 == 3 ? -127 : 127;
    for (int k = 0; k < 16; ++k) {
      x.sums[k] = 0;
      for (int j = 0; j < 16; ++j) x.sums[k] = static_cast<int16_t>(x.sums[k] + x.qs[16 * k + j]);
    }
  }
  return xq;
}

// Checks the scalar and every SIMD path's (1, 4, 16 and 17 tokens: the AMX tiles too; with 16
// rows the 4-token tile takes two groups on AVX-512 VNNI) results of rows x n against the exact
// values expected(r), on the extreme activations.
template <class Expected>
void expect_extreme_results(DType type, const std::vector<uint8_t>& w, size_t rows, size_t n, Expected expected) {
  const auto xq = extreme_activations(n);
  const RepackedWeights packed(type, w.data(), row_bytes(type, n), rows, n);
  const auto scalar = run_repacked(matmul_repacked_int8_scalar, type, packed, rows, n, xq, 1, 0, rows);
  for (size_t r = 0; r < rows; ++r) EXPECT_EQ(scalar[r], expected(r)) << dtype_name(type) << " " << r;
  for (Isa isa : simd_isas())
    for (size_t tokens : {1, 4, 16, 17}) {
      std::vector<ActivationSuperBlock> batch;
      for (size_t t = 0; t < tokens; ++t) batch.insert(batch.end(), xq.begin(), xq.end());
      const auto simd = run_repacked(kernel_table(isa).matmul_repacked_int8, type, packed, rows, n, batch, tokens, 0, rows);
      for (size_t r = 0; r < rows; ++r)
        EXPECT_EQ(simd[(tokens - 1) * rows + r], expected(r)) << dtype_name(type) << " " << isa_name(isa) << " " << r;
    }
}

// Q4_K / Q5_K: every quant at its maximum (15 / 31), every scale and minimum 63 (pair sums of
// 3810, eight per sub-block in int16 for Q4_K; 7874, four per int16 for Q5_K).
TEST(Int8RepackedSuperBlocks, Q45KExtremeValuesDoNotSaturate) {
  const size_t rows = 16, n = 512;
  for (DType type : {DType::Q4_K, DType::Q5_K}) {
    const bool fifth_bit = type == DType::Q5_K;
    const size_t block_bytes = traits(type).block_bytes;
    std::vector<uint8_t> w(rows * row_bytes(type, n));
    for (size_t b = 0; b < w.size() / block_bytes; ++b) {
      uint8_t* block = w.data() + b * block_bytes;
      const uint16_t one = fp32_to_fp16(1.0f), half = fp32_to_fp16(0.5f);
      std::memcpy(block + offsetof(BlockQ4_K, d), &one, 2);
      std::memcpy(block + offsetof(BlockQ4_K, dmin), &half, 2);
      std::memset(block + offsetof(BlockQ4_K, scales), 0xff, block_bytes - offsetof(BlockQ4_K, scales));  // scales, qh, qs
    }
    // A sub-block's activations sum to 8 * 254 = 2032. Per super-block: isum = 8 * 63 * u * 2032,
    // msum = 8 * 63 * 2032 = 1024128; every step is exact in float.
    const float isum = 8.0f * 63 * (fifth_bit ? 31 : 15) * 2032;
    expect_extreme_results(type, w, rows, n, [&](size_t) { return 2 * (isum - 0.5f * 1024128.0f); });
  }
}

// Q6_K: every quant 63 (w = 31) and the scales at both int8 extremes, alternating per row: a
// pair of maddubs steps is 2 * 16002 in int16.
TEST(Int8RepackedSuperBlocks, Q6KExtremeValuesDoNotSaturate) {
  const size_t rows = 16, n = 512;
  std::vector<uint8_t> w(rows * row_bytes(DType::Q6_K, n));
  for (size_t b = 0; b < w.size() / sizeof(BlockQ6_K); ++b) {
    uint8_t* block = w.data() + b * sizeof(BlockQ6_K);
    std::memset(block + offsetof(BlockQ6_K, ql), 0xff, sizeof(BlockQ6_K::ql) + sizeof(BlockQ6_K::qh));
    const bool negative = (b / (n / 256)) % 2 == 0;  // by row
    std::memset(block + offsetof(BlockQ6_K, scales), negative ? 0x80 : 0x7f, sizeof(BlockQ6_K::scales));
    const uint16_t one = fp32_to_fp16(1.0f);
    std::memcpy(block + offsetof(BlockQ6_K, d), &one, 2);
  }
  // Per sub-block: 31 * 1016 = 31496 (as 63 * 1016 - 32 * 1016); per super-block 16 * scale *
  // 31496; two super-blocks. Exact in float.
  expect_extreme_results(DType::Q6_K, w, rows, n, [](size_t r) { return 2.0f * 16 * (r % 2 == 0 ? -128 : 127) * 31496; });
}

TEST(Int8Repacked, DispatcherChecksArguments) {
  std::vector<uint8_t> w(16 * 18);
  const RepackedWeights packed(DType::Q4_0, w.data(), 18, 16, 32);
  std::vector<ActivationBlock> xq(1);
  std::vector<float> y(16);
  RepackedMatmulArgs args{DType::Q4_0, packed.data(), packed.group_bytes(), 32, xq.data(), 40, 1, y.data(), 16, 0, 16};
  EXPECT_NO_THROW(matmul_repacked_int8(args));
  args.row_end = 12;  // not a whole group
  EXPECT_THROW(matmul_repacked_int8(args), Error);
  args.row_end = 16;
  args.type = DType::Q4_K;
  EXPECT_THROW(matmul_repacked_int8(args), Error);
  args.type = DType::Q8_0;  // Q8_0 groups are larger than these Q4_0 ones
  EXPECT_THROW(matmul_repacked_int8(args), Error);
}

}  // namespace
}  // namespace jisu::cpu
