#include "backends/cpu/repacked_tile_choice.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/quant_blocks.h"
#include "core/error.h"

namespace jisu::cpu {
namespace {

// 128 rows x 2048 columns of Q4_0 (147 KiB repacked: in L2, so the product is bound by the
// arithmetic the two forms differ in, not by memory) times 8 tokens: about 10-30 us a product.
constexpr size_t kRows = 128, kCols = 2048, kTokens = 8;
constexpr int kRounds = 5, kProductsPerRound = 8;

// Microseconds per product, over kProductsPerRound of them.
double microseconds(const KernelTable& kernels, RepackedMatmulArgs args, bool one_group) {
  args.one_group_tiles = one_group;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kProductsPerRound; ++i) kernels.matmul_repacked_int8(args);
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  return took.count() / kProductsPerRound;
}

}  // namespace

RepackedTileChoice choose_repacked_tiles(const KernelTable& kernels) {
  RepackedTileChoice choice;
  choice.available = kernels.repacked_two_group_tiles;
  if (const char* forced = std::getenv("JISU_TILE_GROUPS"); forced != nullptr && *forced != '\0') {
    if (std::strcmp(forced, "1") != 0 && std::strcmp(forced, "2") != 0)
      throw Error(std::string("JISU_TILE_GROUPS='") + forced + "' is not 1 or 2",
                  "1: one group of 8 rows per repacked tile; 2: two per zmm where the kernels have them; unset: measured");
    choice.forced = true;
    choice.two_groups = choice.available && forced[0] == '2';
    return choice;
  }
  if (!choice.available) return choice;

  std::mt19937 rng(7);
  std::vector<BlockQ4_0> weights(kRows * kCols / kQK);
  for (BlockQ4_0& block : weights) {
    block.d = 0x2000;  // a small f16 scale; the values only have to be finite
    for (uint8_t& q : block.qs) q = static_cast<uint8_t>(rng());
  }
  const RepackedWeights packed(DType::Q4_0, weights.data(), kCols / kQK * sizeof(BlockQ4_0), kRows, kCols);
  std::vector<float> x(kTokens * kCols);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  const size_t blocks = kCols / kActivationBlockElements;
  std::vector<ActivationBlock> xq(kTokens * blocks);
  for (size_t t = 0; t < kTokens; ++t) kernels.quantize_activations(x.data() + t * kCols, kCols, xq.data() + t * blocks);
  std::vector<float> y(kTokens * kRows);
  const RepackedMatmulArgs args{DType::Q4_0, packed.data(), packed.group_bytes(), kCols, xq.data(),
                                blocks * sizeof(ActivationBlock), kTokens, y.data(), kRows, 0, kRows};

  microseconds(kernels, args, false);  // warm the caches and the core's 512-bit units
  double one = 1e300, two = 1e300;
  for (int round = 0; round < kRounds; ++round) {  // alternating, so a slow moment hits both
    one = std::min(one, microseconds(kernels, args, true));
    two = std::min(two, microseconds(kernels, args, false));
  }
  choice.one_group_us = one;
  choice.two_groups_us = two;
  choice.two_groups = two <= one;
  return choice;
}

const RepackedTileChoice& repacked_tile_choice() {
  static const RepackedTileChoice choice = choose_repacked_tiles(active_kernels());
  return choice;
}

std::string describe(const RepackedTileChoice& choice) {
  if (!choice.available) return "";
  std::string text = choice.two_groups ? "vpdpbusd tiles of 3+ tokens: two row groups per zmm" : "vpdpbusd tiles of 3+ tokens: one row group per ymm";
  if (choice.forced) return text + " (JISU_TILE_GROUPS)";
  char timing[96];
  std::snprintf(timing, sizeof timing, " (measured at load: %.1f us against %.1f us with %s)",
                choice.two_groups ? choice.two_groups_us : choice.one_group_us,
                choice.two_groups ? choice.one_group_us : choice.two_groups_us, choice.two_groups ? "one" : "two");
  return text + timing;
}

}  // namespace jisu::cpu
