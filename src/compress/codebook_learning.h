#pragma once
// The learned 4-bit codebook of cb4 (core/sparse_dtype.h): 16 int8 levels per tensor, and the
// block quantizer it shares with IQ4_NL (whose levels are the fixed kValuesIq4nl).
//
// A block of 32 is x ~= d * level[index], d an fp16 scale found by the weighted least-squares
// search of compress/scale_search.h, each index the nearest level for the stored d.
//
// Learning is weighted k-means (Lloyd) over the weights' values in units of their block's scale:
// starting from IQ4_NL's levels and, separately, from evenly spaced ones, alternately (1) quantize every block with the current levels
// (scale search and nearest codes) and (2) move each level to the weighted mean of the values
// assigned to it, level_k = sum(w d x) / sum(w d^2) over the elements with index k (the least-
// squares optimum for fixed scales and assignments), then rescale the levels to a largest
// magnitude of 127 (a block's d absorbs any common factor) and round them to int8. The weights
// w are the quantizer's own (the imatrix's mean squared input of each column, or 1). The
// codebook with the lowest total weighted squared error seen over both starts is kept, so the
// result is never worse than IQ4_NL's table on the data it was learned from.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/sparse_dtype.h"
#include "core/thread_pool.h"

namespace jisu::compress {

using Codebook = std::array<int8_t, kCodebookLevels>;

// One block (x.size() <= 256) into `levels` (16 values, ascending): returns the block's fp16
// scale bits; writes the indices.
uint16_t quantize_codebook_block(std::span<const float> x, std::span<const float> weights,
                                 std::span<const int8_t> levels, uint8_t* indices);

// The sum over blocks of 32 of sum_i w_i (x_i - d level[index_i])^2 as quantize_codebook_block
// leaves it. values: rows of `cols` floats (cols a multiple of 32); importance: cols values or null.
double codebook_error(std::span<const float> values, size_t cols, const float* importance, const Codebook& levels,
                      ThreadPool& pool);

// Learns a codebook for `values` (rows of `cols` floats, e.g. a sample of a tensor's rows);
// ascending, distinct, within [-127, 127].
Codebook learn_codebook(std::span<const float> values, size_t cols, const float* importance, ThreadPool& pool,
                        int iterations = 16);

}  // namespace jisu::compress
