#include "backends/cpu/int8_repacked_weights.h"


#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/quant_blocks.h"
#include "backends/weight_types.h"
#include "core/error.h"

namespace jisu::cpu {

bool can_repack(DType type, size_t rows, size_t cols) {
  const WeightTypeRow* row = find_weight_type(type);
  if (!row || !row->cpu_repacks) return false;
  const size_t block = traits(type).block_elements;
  return rows > 0 && rows % kRepackRows == 0 && cols > 0 && cols % block == 0;
}

size_t repacked_quant_bytes(DType type) { return kRepackRows * (traits(type).block_bytes - 2); }

size_t repacked_group_bytes(DType type, size_t cols) {
  if (type == DType::Q4_K || type == DType::Q5_K)
    return (cols / kQK_K * repacked_k45_layout(type == DType::Q5_K).bytes + 63) / 64 * 64;
  if (type == DType::Q6_K) return (cols / kQK_K * (kRepackedQ6KBytes + 2 * kRepackRows) + 63) / 64 * 64;
  const size_t blocks = cols / kQK;
  return (blocks * (repacked_quant_bytes(type) + 2 * kRepackRows) + 63) / 64 * 64;
}

namespace {

// Group layouts of int8_repacked_weights.h: `row[r]` are the 8 source rows, `out` the group.
void repack_group_blocks32(DType type, const uint8_t* const row[kRepackRows], size_t cols, uint8_t* out) {
  const size_t blocks = cols / kQK, block_bytes = traits(type).block_bytes, quant_bytes = repacked_quant_bytes(type);
  const size_t lane_bytes = block_bytes - 2;  // one row's quants of a block: 16 (4-bit) or 32 (Q8_0)
  for (size_t b = 0; b < blocks; ++b) {
    // Vector k, lane r <- bytes 4k..4k+3 of row r's quants.
    for (size_t k = 0; k < lane_bytes / 4; ++k)
      for (size_t r = 0; r < kRepackRows; ++r) std::memcpy(out + 32 * k + 4 * r, row[r] + b * block_bytes + 2 + 4 * k, 4);
    out += quant_bytes;
  }
  for (size_t b = 0; b < blocks; ++b)
    for (size_t r = 0; r < kRepackRows; ++r) std::memcpy(out + b * 2 * kRepackRows + 2 * r, row[r] + b * block_bytes, 2);
}

// Q4_K and Q5_K: the same fields at the same block offsets except Q5_K's qh (before its qs).
void repack_group_q45_k(bool fifth_bit, const uint8_t* const row[kRepackRows], size_t cols, uint8_t* out) {
  const RepackedK45Layout& layout = repacked_k45_layout(fifth_bit);
  const size_t block_bytes = fifth_bit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  const size_t qs = fifth_bit ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  static_assert(offsetof(BlockQ5_K, scales) == offsetof(BlockQ4_K, scales) && offsetof(BlockQ5_K, dmin) == offsetof(BlockQ4_K, dmin));
  for (size_t s = 0; s < cols / kQK_K; ++s, out += layout.bytes) {
    for (size_t r = 0; r < kRepackRows; ++r) {
      const uint8_t* block = row[r] + s * block_bytes;
      for (size_t v = 0; v < 32; ++v) std::memcpy(out + 32 * v + 4 * r, block + qs + 4 * v, 4);
      if (fifth_bit)
        for (size_t v = 0; v < 8; ++v) std::memcpy(out + layout.high + 32 * v + 4 * r, block + offsetof(BlockQ5_K, qh) + 4 * v, 4);
      uint8_t scales_and_mins[16];
      k4_unpack_scales(block + offsetof(BlockQ4_K, scales), scales_and_mins);
      for (size_t c = 0; c < 8; ++c) {
        out[layout.scales + 8 * c + r] = scales_and_mins[c];
        out[layout.mins + 8 * c + r] = scales_and_mins[8 + c];
      }
      std::memcpy(out + layout.d + 2 * r, block + offsetof(BlockQ4_K, d), 2);
      std::memcpy(out + layout.dmin + 2 * r, block + offsetof(BlockQ4_K, dmin), 2);
    }
  }
}

void repack_group_q6_k(const uint8_t* const row[kRepackRows], size_t cols, uint8_t* out) {
  const size_t super_blocks = cols / kQK_K;
  uint8_t* d = out + super_blocks * kRepackedQ6KBytes;
  for (size_t s = 0; s < super_blocks; ++s, out += kRepackedQ6KBytes) {
    for (size_t r = 0; r < kRepackRows; ++r) {
      const uint8_t* block = row[r] + s * sizeof(BlockQ6_K);
      for (size_t v = 0; v < 32; ++v) std::memcpy(out + 32 * v + 4 * r, block + offsetof(BlockQ6_K, ql) + 4 * v, 4);
      for (size_t v = 0; v < 16; ++v)
        std::memcpy(out + kRepackedQ6KHigh + 32 * v + 4 * r, block + offsetof(BlockQ6_K, qh) + 4 * v, 4);
      for (size_t q = 0; q < 16; ++q) out[kRepackedQ6KScales + 8 * q + r] = block[offsetof(BlockQ6_K, scales) + q];
      std::memcpy(d + s * 2 * kRepackRows + 2 * r, block + offsetof(BlockQ6_K, d), 2);
    }
  }
}

}  // namespace

namespace {

size_t checked_group_bytes(DType type, size_t rows, size_t cols) {
  if (!can_repack(type, rows, cols))
    throw Error("cannot repack a " + std::string(dtype_name(type)) + " matrix of " + std::to_string(rows) + " x " +
                std::to_string(cols));
  return repacked_group_bytes(type, cols);
}

size_t checked_group_bytes(DType type, std::span<const RepackSource> parts, size_t cols) {
  if (parts.empty()) throw Error("cannot repack an empty stack of matrices");
  for (const RepackSource& part : parts) checked_group_bytes(type, part.rows, cols);
  return repacked_group_bytes(type, cols);
}

size_t total_rows(std::span<const RepackSource> parts) {
  size_t rows = 0;
  for (const RepackSource& part : parts) rows += part.rows;
  return rows;
}

}  // namespace

RepackedWeights::RepackedWeights(DType type, const void* w, size_t row_bytes, size_t rows, size_t cols)
    : RepackedWeights(type, std::span<const RepackSource>(std::array{RepackSource{w, row_bytes, rows}}), cols) {}

RepackedWeights::RepackedWeights(DType type, std::span<const RepackSource> parts, size_t cols)
    : group_bytes_(checked_group_bytes(type, parts, cols)),
      memory_(total_rows(parts) / kRepackRows * group_bytes_, "repacked weights") {
  // The first group of each part: a group never straddles two parts (each has whole groups).
  std::vector<size_t> first_group(parts.size() + 1, 0);
  for (size_t p = 0; p < parts.size(); ++p) first_group[p + 1] = first_group[p] + parts[p].rows / kRepackRows;
  // Written front to back, once per output byte; the 8 source rows are read block by block,
  // 8 sequential streams.
  write_groups_in_parallel(first_group.back(), memory_.bytes(), [&](size_t g_begin, size_t g_end) {
    size_t p = 0;
    for (size_t g = g_begin; g < g_end; ++g) {
      while (g >= first_group[p + 1]) ++p;
      const RepackSource& part = parts[p];
      const auto* src = static_cast<const uint8_t*>(part.data);
      const uint8_t* row[kRepackRows];
      for (size_t r = 0; r < kRepackRows; ++r) row[r] = src + ((g - first_group[p]) * kRepackRows + r) * part.row_bytes;
      uint8_t* out = memory_.data() + g * group_bytes_;
      if (type == DType::Q4_K || type == DType::Q5_K)
        repack_group_q45_k(type == DType::Q5_K, row, cols, out);
      else if (type == DType::Q6_K)
        repack_group_q6_k(row, cols, out);
      else
        repack_group_blocks32(type, row, cols, out);
    }
  });
}

}  // namespace jisu::cpu
