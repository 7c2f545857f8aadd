#pragma once
// Weighted least-squares searches for the scale (and minimum) of one group of weights, the core
// of every quantizer in compress/quantize_row.cpp. Each minimises
//     sum_i w_i (x_i - reconstruction_i)^2
// over a set of candidate scales: for each candidate the levels are rounded, then the scale
// (and minimum) that is optimal for those levels is solved in closed form; the best candidate
// is then refined by alternating "round the levels for this scale" and "solve the scale for
// these levels" while the error drops. The weights are the importance of each weight
// (compress/quantize_row.h, search_weights): 1 without an importance matrix, else its mean
// squared input of the column, for some types times a term that favours large weights. The candidates' rounding and sums run all at
// once, one candidate per SIMD lane (backends/cpu/scale_candidates.h, the CPU kernel table's
// scale_candidate_sums), with the scalar path's sums bit for bit, so every ISA writes the same
// bytes.
#include <cstddef>
#include <cstdint>
#include <span>

namespace jisu::compress {

// x ~= scale * level, level an integer in [low, high] (low < 0 < high; the range may be
// asymmetric, e.g. [-8, 7]: both signs of the scale are tried). Writes the levels; returns the
// scale (0 when every x or every weight is 0). Any length (a whole row for i8_row); the others
// take at most 256 values.
float search_symmetric_scale(std::span<const float> x, std::span<const float> weights, int low, int high,
                             int8_t* levels);

// x ~= scale * level + minimum, level in [0, top]. With minimum_at_most_zero (the K-quants,
// which store -minimum as an unsigned number) the minimum is clamped to <= 0. Writes levels.
struct ScaleAndMinimum {
  float scale = 0;
  float minimum = 0;
};
ScaleAndMinimum search_affine_scale(std::span<const float> x, std::span<const float> weights, int top,
                                    bool minimum_at_most_zero, uint8_t* levels);

// x ~= scale * codebook[index], index in [0, codebook.size()): IQ4_NL's non-uniform levels.
// Writes the indices; returns the scale.
float search_codebook_scale(std::span<const float> x, std::span<const float> weights, std::span<const int8_t> codebook,
                            uint8_t* indices);

// Given fixed scale (and minimum), the nearest level per weight, clamped to [low, high].
void round_levels(std::span<const float> x, float scale, float minimum, int low, int high, int8_t* levels);

}  // namespace jisu::compress
