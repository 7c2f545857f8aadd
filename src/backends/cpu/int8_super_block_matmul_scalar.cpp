// Scalar reference of the super-block integer path (arithmetic spelled out in
// int8_super_block_matmul.h), plus the entry points that validate and dispatch.
#include <cmath>
#include <string>

#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "core/cpu_features.h"
#include "backends/weight_types.h"
#include "core/error.h"

namespace jisu::cpu {
namespace {

// Sum over lane l (elements 4l .. 4l + 3) of chunk c: weights w[32] times activations q[32].
int32_t lane_product(const int32_t w[32], const int8_t* q, int l) {
  int32_t s = 0;
  for (int j = 4 * l; j < 4 * l + 4; ++j) s += w[j] * int32_t(q[j]);
  return s;
}

// Q4_K, and Q5_K (fifth_bit: bit c of qh[l] is bit 4 of element l of chunk c).
float q45_k_row(const uint8_t* row, const ActivationSuperBlock* x, size_t n_super_blocks, bool fifth_bit) {
  float acc[8] = {}, acc_min[8] = {};
  const size_t block_bytes = fifth_bit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  for (size_t b = 0; b < n_super_blocks; ++b) {
    const uint8_t* block = row + b * block_bytes;
    const auto* qs = block + (fifth_bit ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs));
    const auto* qh = block + offsetof(BlockQ5_K, qh);
    int32_t lanes[8] = {};
    for (int c = 0; c < 8; ++c) {
      uint8_t scale, min;
      k4_scale_min(c, block + offsetof(BlockQ4_K, scales), scale, min);
      int32_t w[32];
      for (int l = 0; l < 32; ++l) {
        w[l] = c % 2 == 0 ? qs[32 * (c / 2) + l] & 15 : qs[32 * (c / 2) + l] >> 4;
        if (fifth_bit) w[l] |= ((qh[l] >> c) & 1) << 4;
      }
      for (int l = 0; l < 8; ++l) lanes[l] += int32_t(scale) * lane_product(w, x[b].qs + 32 * c, l);
      const int32_t min_lane = int32_t(min) * (int32_t(x[b].sums[2 * c]) + int32_t(x[b].sums[2 * c + 1]));
      acc_min[c] = std::fma(static_cast<float>(min_lane), half_to_float(load_u16(block + 2)) * x[b].d, acc_min[c]);
    }
    const float scale = half_to_float(load_u16(block)) * x[b].d;
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(static_cast<float>(lanes[l]), scale, acc[l]);
  }
  return reduce_lanes(acc) - reduce_lanes(acc_min);
}

float q6_k_row(const uint8_t* row, const ActivationSuperBlock* x, size_t n_super_blocks) {
  float acc[8] = {};
  for (size_t b = 0; b < n_super_blocks; ++b) {
    const uint8_t* block = row + b * sizeof(BlockQ6_K);
    const auto* scales = reinterpret_cast<const int8_t*>(block + offsetof(BlockQ6_K, scales));
    int32_t lanes[8] = {};
    for (int c = 0; c < 8; ++c) {
      const int h = c / 4, part = c % 4;
      const uint8_t* ql = block + 64 * h + 32 * (part & 1);
      const uint8_t* qh = block + offsetof(BlockQ6_K, qh) + 32 * h;
      int32_t u[32];
      for (int l = 0; l < 32; ++l) u[l] = ((ql[l] >> (part < 2 ? 0 : 4)) & 15) | (((qh[l] >> (2 * part)) & 3) << 4);
      for (int l = 0; l < 8; ++l) lanes[l] += int32_t(scales[2 * c + l / 4]) * lane_product(u, x[b].qs + 32 * c, l);
    }
    for (int l = 0; l < 8; ++l)
      lanes[l] -= 32 * (int32_t(scales[2 * l]) * x[b].sums[2 * l] + int32_t(scales[2 * l + 1]) * x[b].sums[2 * l + 1]);
    const float scale = half_to_float(load_u16(block + offsetof(BlockQ6_K, d))) * x[b].d;
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(static_cast<float>(lanes[l]), scale, acc[l]);
  }
  return reduce_lanes(acc);
}

// Q2_K / Q3_K: chunk c = 4h + j takes bits 2j..2j+1 of qs[32h + l]; sub-scale k = 2c + l / 16.
//   Q2_K: w = u (0..3), unsigned 4-bit scales and mins; minimum lane j = m_2j * sums[2j] + m_2j+1 * sums[2j+1].
//   Q3_K: u = low bits | bit c of hmask[l] as bit 2 (0..7), w = u - 4, signed 6-bit scales;
//         lane_l -= 4 * (s_2l * sums[2l] + s_2l+1 * sums[2l+1]).
float q23_k_row(const uint8_t* row, const ActivationSuperBlock* x, size_t n_super_blocks, bool three_bits) {
  float acc[8] = {}, acc_min[8] = {};
  const size_t block_bytes = three_bits ? sizeof(BlockQ3_K) : sizeof(BlockQ2_K);
  for (size_t b = 0; b < n_super_blocks; ++b) {
    const uint8_t* block = row + b * block_bytes;
    int32_t scales[16], mins[16] = {};
    if (three_bits) {
      int8_t unpacked[16];
      q3k_unpack_scales(block + offsetof(BlockQ3_K, scales), unpacked);
      for (int k = 0; k < 16; ++k) scales[k] = unpacked[k];
    } else {
      for (int k = 0; k < 16; ++k) {
        scales[k] = q2k_scale(block + offsetof(BlockQ2_K, scales), k);
        mins[k] = q2k_min(block + offsetof(BlockQ2_K, scales), k);
      }
    }
    const uint8_t* qs = block + (three_bits ? offsetof(BlockQ3_K, qs) : offsetof(BlockQ2_K, qs));
    int32_t lanes[8] = {};
    for (int c = 0; c < 8; ++c) {
      const int h = c / 4, j = c % 4;
      int32_t u[32];
      for (int l = 0; l < 32; ++l) {
        u[l] = (qs[32 * h + l] >> (2 * j)) & 3;
        if (three_bits) u[l] |= ((block[offsetof(BlockQ3_K, hmask) + l] >> c) & 1) << 2;
      }
      for (int l = 0; l < 8; ++l) lanes[l] += scales[2 * c + l / 4] * lane_product(u, x[b].qs + 32 * c, l);
    }
    const float d = half_to_float(load_u16(block + (three_bits ? offsetof(BlockQ3_K, d) : offsetof(BlockQ2_K, d))));
    if (three_bits) {
      for (int l = 0; l < 8; ++l) lanes[l] -= 4 * (scales[2 * l] * x[b].sums[2 * l] + scales[2 * l + 1] * x[b].sums[2 * l + 1]);
    } else {
      const float dmin = half_to_float(load_u16(block + offsetof(BlockQ2_K, dmin)));
      for (int l = 0; l < 8; ++l) {
        const int32_t min_lane = mins[2 * l] * x[b].sums[2 * l] + mins[2 * l + 1] * x[b].sums[2 * l + 1];
        acc_min[l] = std::fma(static_cast<float>(min_lane), dmin * x[b].d, acc_min[l]);
      }
    }
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(static_cast<float>(lanes[l]), d * x[b].d, acc[l]);
  }
  return reduce_lanes(acc) - reduce_lanes(acc_min);
}

}  // namespace

bool takes_int8_super_blocks(DType type) {
  const WeightTypeRow* row = find_weight_type(type);
  return row && row->int8_path == Int8Path::SuperBlocks;
}

void quantize_activations_super_blocks_scalar(const float* x, size_t n, ActivationSuperBlock* out) {
  for (size_t b = 0; b < n / kActivationSuperBlockElements; ++b) {
    const float* v = x + b * kActivationSuperBlockElements;
    const float d = activation_scale(v, kActivationSuperBlockElements);
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (size_t k = 0; k < 16; ++k) {
      int32_t sum = 0;
      for (size_t j = 16 * k; j < 16 * k + 16; ++j) {
        const int q = static_cast<int>(std::nearbyint(v[j] * inverse));  // ties to even, |q| <= 127
        out[b].qs[j] = static_cast<int8_t>(q);
        sum += q;
      }
      out[b].sums[k] = static_cast<int16_t>(sum);
    }
    out[b].d = d;
  }
}

void matmul_rows_int8_super_blocks_scalar(const Int8MatmulArgs& a) {
  const size_t n_super_blocks = a.n / kActivationSuperBlockElements;
  for (size_t t = 0; t < a.n_tokens; ++t) {
    const ActivationSuperBlock* x = super_block_row(a, t);
    for (size_t r = a.row_begin; r < a.row_end; ++r) {
      const uint8_t* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
      float& out = a.y[t * a.y_stride + r];
      switch (a.type) {
        case DType::Q2_K: out = q23_k_row(row, x, n_super_blocks, false); break;
        case DType::Q3_K: out = q23_k_row(row, x, n_super_blocks, true); break;
        case DType::Q4_K: out = q45_k_row(row, x, n_super_blocks, false); break;
        case DType::Q5_K: out = q45_k_row(row, x, n_super_blocks, true); break;
        case DType::Q6_K: out = q6_k_row(row, x, n_super_blocks); break;
        default: throw_unsupported_weight_type(a.type);
      }
    }
  }
}

void quantize_activations_super_blocks(const float* x, size_t n, ActivationSuperBlock* out) {
  if (n % kActivationSuperBlockElements != 0)
    throw Error("cannot quantize " + std::to_string(n) + " activations in super-blocks of 256");
  active_kernels().quantize_activations_super_blocks(x, n, out);
}

void matmul_rows_int8_super_blocks(const Int8MatmulArgs& args) {
  if (!takes_int8_super_blocks(args.type))
    throw Error("weight type " + std::string(dtype_name(args.type)) + " has no super-block integer kernel");
  check_int8_matmul_args(args, kActivationSuperBlockElements, "super-blocks");
  active_kernels().matmul_rows_int8_super_blocks(args);
}

}  // namespace jisu::cpu
