#include "compress/sparse_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/sparse_blocks.h"
#include "core/error.h"

namespace jisu::compress {
namespace {

// Pruned first: smaller score, then smaller index.
struct PrunedFirst {
  std::span<const float> scores;
  bool operator()(uint32_t a, uint32_t b) const { return scores[a] < scores[b] || (scores[a] == scores[b] && a < b); }
};

// One block of 64: its u64 mask at `mask_out`, its f16 scale at `scale_out`, its values (biased:
// sparse_blocks.h) at `values`. Returns how many values it wrote.
size_t encode_block(const float* weights, const uint8_t* keep, uint8_t* mask_out, uint8_t* scale_out, uint8_t* values) {
  uint64_t mask = 0;
  float largest = 0.0f;
  for (size_t j = 0; j < cpu::kSparseBlockElements; ++j)
    if (keep[j]) {
      mask |= uint64_t{1} << j;
      largest = std::max(largest, std::fabs(weights[j]));
    }
  const uint16_t scale_bits = cpu::fp32_to_fp16(largest / 127.0f);
  const float scale = cpu::fp16_to_fp32(scale_bits);
  std::memcpy(mask_out, &mask, sizeof mask);  // little-endian
  std::memcpy(scale_out, &scale_bits, sizeof scale_bits);
  size_t count = 0;
  for (size_t j = 0; j < cpu::kSparseBlockElements; ++j) {
    if (!keep[j]) continue;
    const float q = scale > 0.0f ? std::nearbyint(weights[j] / scale) : 0.0f;
    values[count++] = static_cast<uint8_t>(static_cast<int>(std::clamp(q, -127.0f, 127.0f)) + cpu::kSparseValueBias);
  }
  return count;
}

}  // namespace

void keep_largest(std::span<const float> scores, size_t n_keep, std::span<uint8_t> keep) {
  JISU_ASSERT(keep.size() == scores.size() && n_keep <= scores.size());
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  const size_t n_pruned = scores.size() - n_keep;
  std::fill(keep.begin(), keep.end(), uint8_t{1});
  if (n_pruned == 0) return;
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_pruned - 1), order.end(),
                   PrunedFirst{scores});
  // nth_element leaves the n_pruned first in order (by PrunedFirst) before position n_pruned.
  for (size_t i = 0; i < n_pruned; ++i) keep[order[i]] = 0;
}

void keep_largest_per_group(std::span<const float> scores, size_t n, size_t m, std::span<uint8_t> keep) {
  JISU_ASSERT(scores.size() % m == 0 && keep.size() == scores.size() && n <= m);
  for (size_t g = 0; g < scores.size(); g += m) keep_largest(scores.subspan(g, m), n, keep.subspan(g, m));
}

void encode_sparse_row(DType type, const float* weights, const uint8_t* keep, size_t n, uint8_t* dst) {
  const bool nm = type == kJisuNmQ8;
  if ((!nm && !is_jisu_sparse_q8(type)) || n % cpu::kSparseBlockElements != 0)
    throw Error("cannot write a row of " + std::to_string(n) + " weights as " + std::string(dtype_name(type)));
  const cpu::SparseRowLayout layout = cpu::sparse_row_layout(n);
  if (nm) {
    for (size_t b = 0; b < layout.blocks; ++b) {
      const size_t first = b * cpu::kSparseBlockElements;
      if (std::count(keep + first, keep + first + cpu::kSparseBlockElements, uint8_t{1}) != cpu::kNmBlockKept)
        throw Error("block " + std::to_string(b) + " of an N:M sparse row does not keep 32 of its 64 weights");
    }
  } else {
    const size_t kept = static_cast<size_t>(std::count(keep, keep + n, uint8_t{1}));
    if (kept != n / cpu::kSparseBlockElements * sparse_q8_kept_per_64(type))
      throw Error("a row keeping " + std::to_string(kept) + " of " + std::to_string(n) + " weights is not " +
                  std::string(dtype_name(type)));
  }
  uint8_t* values = dst + layout.values_offset();
  for (size_t b = 0; b < layout.blocks; ++b) {
    const size_t first = b * cpu::kSparseBlockElements;
    values += encode_block(weights + first, keep + first, dst + 8 * b, dst + layout.scales_offset() + 2 * b, values);
  }
}

}  // namespace jisu::compress
