#pragma once
// ggml / GGUF weight block layouts (QK_K = 256) and small helpers shared by the scalar and
// SIMD kernels. Every struct is exactly the on-disk block: the static_asserts tie the sizes to
// the block_bytes column of core/dtype.cpp. fp16 fields are stored as raw uint16_t bits.
//
// Element order inside a block (what dequantization produces), per type:
//   Q4_0/Q4_1/IQ4_NL: element j < 16 is the low nibble of qs[j], element j + 16 the high nibble.
//   Q5_0/Q5_1: as Q4, plus bit j of the little-endian uint32 qh is bit 4 of element j.
//   Q8_0: qs[j].
//   Q2_K: element 128h + 32j + l = (qs[32h + l] >> 2j) & 3, scale/min byte 8h + 2j + l/16.
//   Q3_K: as Q2_K for the low 2 bits; bit (4h + j) of hmask[l] set means +0, clear means -4;
//         6-bit scale 8h + 2j + l/16 (see q3k_unpack_scales), offset by 32.
//   Q4_K: element 64g + l (l < 32) is the low nibble of qs[32g + l], 64g + 32 + l the high one;
//         sub-block s = element / 32 has 6-bit scale/min s (see k4_scale_min).
//   Q5_K: as Q4_K, plus bit s of qh[l] is bit 4 of element 32s + l.
//   Q6_K: in half h, for l < 32: elements l, l+32, l+64, l+96 take ql[64h+l] & 15,
//         ql[64h+32+l] & 15, ql[64h+l] >> 4, ql[64h+32+l] >> 4 as low bits and the 2-bit fields
//         0, 1, 2, 3 of qh[32h + l] as bits 4-5, minus 32; element e uses scales[e / 16].
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "core/half_float.h"

namespace jisu::cpu {

inline constexpr size_t kQK = 32;    // elements per block of the 32-wide types
inline constexpr size_t kQK_K = 256; // elements per K-quant super-block
inline constexpr size_t kKScaleSize = 12;

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[kKScaleSize];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// IQ4_XS: IQ4_NL's code book in 8 sub-blocks of 32 with 6-bit signed sub-scales (stored + 32):
// low 4 bits of sub-block j in scales_l[j / 2] (nibble j % 2), high 2 bits at bit 2j of
// scales_h. Sub-block j's elements l < 16 and l + 16 are the nibbles of qs[16j + l].
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136 && offsetof(BlockIQ4_XS, qs) == 8);

// Byte offsets of fields the SIMD kernels address directly (blocks are read through byte
// pointers so no struct alignment is assumed).
static_assert(offsetof(BlockQ5_0, qs) == 6 && offsetof(BlockQ5_1, qs) == 8);
static_assert(offsetof(BlockQ2_K, d) == 80 && offsetof(BlockQ3_K, d) == 108);
static_assert(offsetof(BlockQ4_K, qs) == 16 && offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(offsetof(BlockQ6_K, qh) == 128 && offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);

// IQ4_NL's non-linear 4-bit code book.
inline constexpr int8_t kValuesIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// IQ4_XS sub-block j's scale as a signed integer (the stored 6 bits minus 32).
inline int iq4_xs_sub_scale(const uint8_t* block, int j) {
  const int low = (block[4 + j / 2] >> (4 * (j % 2))) & 15;
  const int high = ((block[2] | (block[3] << 8)) >> (2 * j)) & 3;
  return (low | (high << 4)) - 32;
}

// Unaligned little-endian loads.
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed scale bytes.
// Bytes 0-3 hold scales 0-3 (low 6 bits) and bytes 4-7 mins 0-3; scales/mins 4-7 keep their
// low 4 bits in the nibbles of bytes 8-11 and their top 2 bits in the top bits of bytes 0-7.
inline void k4_scale_min(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Q4_K / Q5_K: all eight scales (out[0..7]) and mins (out[8..15]) at once, same values as
// k4_scale_min, computed with 32-bit word operations.
inline void k4_unpack_scales(const uint8_t* q, uint8_t out[16]) {
  constexpr uint32_t kLow6 = 0x3f3f3f3fu, kLow4 = 0x0f0f0f0fu, kLow2 = 0x03030303u;
  const uint32_t w0 = load_u32(q), w1 = load_u32(q + 4), w2 = load_u32(q + 8);
  const uint32_t words[4] = {
      w0 & kLow6,                                         // scales 0-3
      (w2 & kLow4) | (((w0 >> 6) & kLow2) << 4),          // scales 4-7
      w1 & kLow6,                                         // mins 0-3
      ((w2 >> 4) & kLow4) | (((w1 >> 6) & kLow2) << 4)};  // mins 4-7
  std::memcpy(out, words, sizeof words);
}

// Q3_K: the 16 signed sub-block scales (already minus 32) from the 12 packed bytes. Scale i
// has its low 4 bits in the low (i < 8) or high (i >= 8) nibble of byte i % 8 and its top 2
// bits in bits 2*(i/4) .. 2*(i/4)+1 of byte 8 + i % 4.
inline void q3k_unpack_scales(const uint8_t* q, int8_t out[16]) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (q[i] & 0x0f) : (q[i - 8] >> 4);
    const int high = (q[8 + (i % 4)] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// Q2_K: scale (low nibble) and min (high nibble) of sub-block i.
inline uint8_t q2k_scale(const uint8_t* scales, int i) { return scales[i] & 0x0f; }
inline uint8_t q2k_min(const uint8_t* scales, int i) { return scales[i] >> 4; }

// Throws jisu::Error naming the type (defined in quant_scalar.cpp).
[[noreturn]] void throw_unsupported_weight_type(DType type);

}  // namespace jisu::cpu
