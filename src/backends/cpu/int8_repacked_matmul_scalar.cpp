// Scalar reference of the repacked integer path (contract in int8_repacked_matmul.h). It reads
// the repacked layout itself, so it also checks the layout the AVX2 kernels assume.
#include <cmath>

#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu {
namespace {

// The 32 integer weights of row r (0..7) of the repacked block at q.
void repacked_block_row(DType type, const uint8_t* q, size_t r, int8_t w[32]) {
  if (type == DType::Q8_0) {
    for (int j = 0; j < 32; ++j) w[j] = static_cast<int8_t>(q[32 * (j / 4) + 4 * r + j % 4]);
    return;
  }
  for (int j = 0; j < 16; ++j) {
    const uint8_t byte = q[32 * (j / 4) + 4 * r + j % 4];
    if (type == DType::IQ4_NL) {
      w[j] = kValuesIq4nl[byte & 15];
      w[j + 16] = kValuesIq4nl[byte >> 4];
    } else {
      w[j] = static_cast<int8_t>((byte & 15) - 8);
      w[j + 16] = static_cast<int8_t>((byte >> 4) - 8);
    }
  }
}

// Q4_K / Q5_K: row r of the group at `group`, one token's super-blocks x.
template <bool kFifthBit>
float q45_k_row(const uint8_t* group, size_t r, const ActivationSuperBlock* x, size_t n) {
  const RepackedK45Layout& layout = repacked_k45_layout(kFifthBit);
  float acc = 0.0f;
  for (size_t s = 0; s < n / kActivationSuperBlockElements; ++s) {
    const uint8_t* block = group + s * layout.bytes;
    int32_t isum = 0, msum = 0;
    for (size_t c = 0; c < 8; ++c) {
      const size_t h = c / 2, nibble_shift = 4 * (c % 2);
      int32_t sub_block = 0;
      for (size_t i = 0; i < 32; ++i) {
        const uint8_t byte = block[32 * (8 * h + i / 4) + 4 * r + i % 4];
        int32_t u = (byte >> nibble_shift) & 15;
        if (kFifthBit) u |= ((block[layout.high + 32 * (i / 4) + 4 * r + i % 4] >> c) & 1) << 4;
        sub_block += u * x[s].qs[32 * c + i];
      }
      isum += int32_t(block[layout.scales + 8 * c + r]) * sub_block;
      msum += int32_t(block[layout.mins + 8 * c + r]) * (int32_t(x[s].sums[2 * c]) + x[s].sums[2 * c + 1]);
    }
    const float d = half_to_float(load_u16(block + layout.d + 2 * r));
    const float dmin = half_to_float(load_u16(block + layout.dmin + 2 * r));
    acc = std::fma(-static_cast<float>(msum), dmin * x[s].d, acc);
    acc = std::fma(static_cast<float>(isum), d * x[s].d, acc);
  }
  return acc;
}

// Q6_K: element 128h + 32c + l (l < 32) of a super-block takes nibble c / 2 of ql byte
// 64h + 32 (c % 2) + l and bits 2c, 2c + 1 of qh byte 32h + l (the GGUF order, kept by the repacking).
float q6_k_row(const uint8_t* group, size_t r, const ActivationSuperBlock* x, size_t n) {
  const size_t super_blocks = n / kActivationSuperBlockElements;
  float acc = 0.0f;
  for (size_t s = 0; s < super_blocks; ++s) {
    const uint8_t* block = group + s * kRepackedQ6KBytes;
    // Byte b of row r's ql or qh, through the interleaving (vector b / 4, lane r).
    const auto lane_byte = [&](size_t offset, size_t b) { return block[offset + 32 * (b / 4) + 4 * r + b % 4]; };
    int32_t isum = 0;
    for (size_t q = 0; q < 16; ++q) {
      int32_t sub_block = 0;
      for (size_t i = 0; i < 16; ++i) {
        const size_t e = 16 * q + i, h = e / 128, c = e % 128 / 32, l = e % 32;
        const int32_t low = (lane_byte(0, 64 * h + 32 * (c % 2) + l) >> (4 * (c / 2))) & 15;
        const int32_t high = (lane_byte(kRepackedQ6KHigh, 32 * h + l) >> (2 * c)) & 3;
        sub_block += (low | high << 4) * x[s].qs[e];
      }
      isum += int32_t(static_cast<int8_t>(block[kRepackedQ6KScales + 8 * q + r])) * (sub_block - 32 * x[s].sums[q]);
    }
    const float d = half_to_float(load_u16(group + super_blocks * kRepackedQ6KBytes + s * 2 * kRepackRows + 2 * r));
    acc = std::fma(static_cast<float>(isum), d * x[s].d, acc);
  }
  return acc;
}

}  // namespace

void matmul_repacked_int8_scalar(const RepackedMatmulArgs& a) {
  if (a.type == DType::Q4_K || a.type == DType::Q5_K || a.type == DType::Q6_K) {
    const auto row = a.type == DType::Q4_K ? q45_k_row<false> : a.type == DType::Q5_K ? q45_k_row<true> : q6_k_row;
    for (size_t t = 0; t < a.n_tokens; ++t) {
      const auto* x = activation_row<ActivationSuperBlock>(a, t);
      for (size_t r = a.row_begin; r < a.row_end; ++r)
        a.y[t * a.y_stride + r] = row(a.w + r / kRepackRows * a.group_bytes, r % kRepackRows, x, a.n);
    }
    return;
  }
  const size_t nb = a.n / kActivationBlockElements, quant_bytes = repacked_quant_bytes(a.type);
  for (size_t t = 0; t < a.n_tokens; ++t) {
    const auto* x = activation_row<ActivationBlock>(a, t);
    for (size_t r = a.row_begin; r < a.row_end; ++r) {
      const uint8_t* group = a.w + r / kRepackRows * a.group_bytes;
      const uint8_t* scales = group + nb * quant_bytes;
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        int8_t w[32];
        repacked_block_row(a.type, group + b * quant_bytes, r % kRepackRows, w);
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) isum += int32_t(w[j]) * int32_t(x[b].qs[j]);
        const float dw = half_to_float(load_u16(scales + b * 2 * kRepackRows + 2 * (r % kRepackRows)));
        acc = std::fma(static_cast<float>(isum), dw * x[b].d, acc);
      }
      a.y[t * a.y_stride + r] = acc;
    }
  }
}

}  // namespace jisu::cpu
