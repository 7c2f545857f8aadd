#pragma once
// Pruning one weight row: which weights to keep (by score, per row or per group of M), and
// writing the kept ones in the jisu-only sparse layouts (backends/cpu/sparse_blocks.h).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dtype.h"
#include "core/sparse_dtype.h"

namespace jisu::compress {

// keep[j] = 1 for the `n_keep` weights of largest score, else 0. The order pruned first is
// (score ascending, index ascending): ties prune the lower index, so the choice is one set.
void keep_largest(std::span<const float> scores, size_t n_keep, std::span<uint8_t> keep);

// N:M: in every group of `m` consecutive weights, keep the `n` of largest score (same order).
void keep_largest_per_group(std::span<const float> scores, size_t n, size_t m, std::span<uint8_t> keep);

// Writes `weights` where keep[j] (the others are pruned) as one row of `type`
// (jisu_sparse_q8_kK: exactly n / 64 * K kept; jisu_nm_q8: exactly 32 of each 64 kept; n a
// multiple of 64) into row_bytes(type, n) bytes at dst. Per block of 64 the scale is
// max |kept weight| / 127 (as f16) and each kept weight is rounded to the nearest int8 multiple
// of it (stored biased by +128). Throws jisu::Error when the
// kept counts do not fit the type.
void encode_sparse_row(DType type, const float* weights, const uint8_t* keep, size_t n, uint8_t* dst);

}  // namespace jisu::compress
