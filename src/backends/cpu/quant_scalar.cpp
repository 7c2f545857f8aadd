// Scalar reference kernels: decode one block at a time into floats, then multiply-accumulate.
// The SIMD variants are checked against these; keep them plain and obviously right.
#include <cstring>
#include <string>

#include "backends/cpu/companion_rows.h"
#include "backends/cpu/quant_blocks.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/weight_types.h"
#include "core/error.h"
#include "core/sparse_dtype.h"

namespace jisu::cpu {
namespace {

[[noreturn]] void unsupported(DType type) { throw_unsupported_weight_type(type); }

// Elements decoded per call of decode_block (plain types are decoded in chunks of 32).
constexpr size_t kMaxBlock = kQK_K;

void decode_q4_0(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const uint8_t* qs = p + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void decode_q4_1(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const float m = half_to_float(load_u16(p + 2));
  const uint8_t* qs = p + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

void decode_q5_0(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const uint32_t qh = load_u32(p + 2);
  const uint8_t* qs = p + 6;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + 16] = static_cast<float>(hi - 16) * d;
  }
}

void decode_q5_1(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const float m = half_to_float(load_u16(p + 2));
  const uint32_t qh = load_u32(p + 4);
  const uint8_t* qs = p + 8;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo) * d + m;
    y[j + 16] = static_cast<float>(hi) * d + m;
  }
}

void decode_q8_0(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const int8_t* qs = reinterpret_cast<const int8_t*>(p + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// IQ4_NL's block into a 16-level table: its fixed kValuesIq4nl, or a cb4 tensor's codebook.
void decode_codebook_block(const uint8_t* p, const int8_t* levels, float* y) {
  const float d = half_to_float(load_u16(p));
  const uint8_t* qs = p + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(levels[qs[j] & 0x0f]);
    y[j + 16] = d * static_cast<float>(levels[qs[j] >> 4]);
  }
}
void decode_iq4_nl(const uint8_t* p, float* y) { decode_codebook_block(p, kValuesIq4nl, y); }


void decode_iq4_xs(const uint8_t* p, float* y) {
  const float d = half_to_float(load_u16(p));
  const uint8_t* qs = p + offsetof(BlockIQ4_XS, qs);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * static_cast<float>(iq4_xs_sub_scale(p, j));
    for (int l = 0; l < 16; ++l) {
      y[32 * j + l] = dl * static_cast<float>(kValuesIq4nl[qs[16 * j + l] & 0x0f]);
      y[32 * j + l + 16] = dl * static_cast<float>(kValuesIq4nl[qs[16 * j + l] >> 4]);
    }
  }
}

void decode_q2_k(const uint8_t* p, float* y) {
  const auto* b = reinterpret_cast<const BlockQ2_K*>(p);
  const float d = half_to_float(load_u16(p + offsetof(BlockQ2_K, d)));
  const float dmin = half_to_float(load_u16(p + offsetof(BlockQ2_K, dmin)));
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b->qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      for (int half = 0; half < 2; ++half) {
        const int is = 8 * h + 2 * j + half;
        const float dl = d * static_cast<float>(q2k_scale(b->scales, is));
        const float ml = dmin * static_cast<float>(q2k_min(b->scales, is));
        for (int l = 16 * half; l < 16 * half + 16; ++l)
          y[128 * h + 32 * j + l] = dl * static_cast<float>((q[l] >> (2 * j)) & 3) - ml;
      }
    }
  }
}

void decode_q3_k(const uint8_t* p, float* y) {
  const auto* b = reinterpret_cast<const BlockQ3_K*>(p);
  const float d = half_to_float(load_u16(p + offsetof(BlockQ3_K, d)));
  int8_t scales[16];
  q3k_unpack_scales(b->scales, scales);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b->qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      const uint8_t bit = static_cast<uint8_t>(1u << (4 * h + j));
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(scales[8 * h + 2 * j + half]);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int v = ((q[l] >> (2 * j)) & 3) - ((b->hmask[l] & bit) ? 0 : 4);
          y[128 * h + 32 * j + l] = dl * static_cast<float>(v);
        }
      }
    }
  }
}

void decode_q4_k(const uint8_t* p, float* y) {
  const auto* b = reinterpret_cast<const BlockQ4_K*>(p);
  const float d = half_to_float(load_u16(p));
  const float dmin = half_to_float(load_u16(p + 2));
  for (int g = 0; g < 4; ++g) {
    uint8_t sc, m;
    k4_scale_min(2 * g, b->scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    k4_scale_min(2 * g + 1, b->scales, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    const uint8_t* q = b->qs + 32 * g;
    for (int l = 0; l < 32; ++l) {
      y[64 * g + l] = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      y[64 * g + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void decode_q5_k(const uint8_t* p, float* y) {
  const auto* b = reinterpret_cast<const BlockQ5_K*>(p);
  const float d = half_to_float(load_u16(p));
  const float dmin = half_to_float(load_u16(p + 2));
  for (int g = 0; g < 4; ++g) {
    uint8_t sc, m;
    k4_scale_min(2 * g, b->scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    k4_scale_min(2 * g + 1, b->scales, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    const uint8_t* q = b->qs + 32 * g;
    const uint8_t u1 = static_cast<uint8_t>(1u << (2 * g)), u2 = static_cast<uint8_t>(2u << (2 * g));
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[l] & 0x0f) + ((b->qh[l] & u1) ? 16 : 0);
      const int hi = (q[l] >> 4) + ((b->qh[l] & u2) ? 16 : 0);
      y[64 * g + l] = d1 * static_cast<float>(lo) - m1;
      y[64 * g + 32 + l] = d2 * static_cast<float>(hi) - m2;
    }
  }
}

void decode_q6_k(const uint8_t* p, float* y) {
  const auto* b = reinterpret_cast<const BlockQ6_K*>(p);
  const float d = half_to_float(load_u16(p + offsetof(BlockQ6_K, d)));
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b->ql + 64 * h;
    const uint8_t* qh = b->qh + 32 * h;
    const int8_t* sc = b->scales + 8 * h;
    float* out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

// Decodes `count` elements (count <= kMaxBlock; a whole block for quantized types) starting
// at element `first` of a row.
void decode(DType type, const uint8_t* row, size_t first, size_t count, float* y) {
  switch (type) {
    case DType::F32:
      std::memcpy(y, row + first * 4, count * sizeof(float));
      return;
    case DType::F16:
      for (size_t i = 0; i < count; ++i) y[i] = half_to_float(load_u16(row + (first + i) * 2));
      return;
    case DType::BF16:
      for (size_t i = 0; i < count; ++i) y[i] = bfloat_to_float(load_u16(row + (first + i) * 2));
      return;
    default:
      break;
  }
  const DTypeTraits& t = traits(type);
  const uint8_t* p = row + first / t.block_elements * t.block_bytes;
  if (type == kJisuI8Row || type == kJisuCb4)
    throw Error(std::string(dtype_name(type)) + " weights are decoded with their tensor's " +
                    (type == kJisuCb4 ? "codebook" : "row scales") + ", which this path does not have",
                "they run only as linear weights on the CPU (not as an embedding, on CUDA, or re-quantized)");
  switch (type) {
    case DType::Q4_0: return decode_q4_0(p, y);
    case DType::Q4_1: return decode_q4_1(p, y);
    case DType::Q5_0: return decode_q5_0(p, y);
    case DType::Q5_1: return decode_q5_1(p, y);
    case DType::Q8_0: return decode_q8_0(p, y);
    case DType::Q2_K: return decode_q2_k(p, y);
    case DType::Q3_K: return decode_q3_k(p, y);
    case DType::Q4_K: return decode_q4_k(p, y);
    case DType::Q5_K: return decode_q5_k(p, y);
    case DType::Q6_K: return decode_q6_k(p, y);
    case DType::IQ4_NL: return decode_iq4_nl(p, y);
    case DType::IQ4_XS: return decode_iq4_xs(p, y);
    default: unsupported(type);
  }
}

// Elements per decode step: the block for quantized types, 32 for plain ones.
size_t step_of(DType type) { return traits(type).is_quantized ? traits(type).block_elements : 32; }

}  // namespace

void throw_unsupported_weight_type(DType type) {
  const auto known = dtype_traits(static_cast<uint32_t>(type));
  std::string message = "weight type ";
  if (known) message += known->name;
  else message += "#", message += std::to_string(static_cast<uint32_t>(type));
  message += " is not supported by the CPU kernels";
  throw Error(message, "supported: " + supported_weight_type_names());
}

bool weight_type_supported(DType type) { return find_weight_type(type) != nullptr; }

void dequantize_cb4_row(const void* src, const int8_t* codebook, float* dst, size_t n) {
  if (n % kQK != 0) throw Error("a cb4 row of " + std::to_string(n) + " values is not a whole number of blocks of 32");
  const auto* row = static_cast<const uint8_t*>(src);
  for (size_t b = 0; b < n / kQK; ++b) decode_codebook_block(row + b * sizeof(BlockIQ4_NL), codebook, dst + b * kQK);
}

void dequantize_i8_row(const void* src, float row_scale, float* dst, size_t n) {
  const auto* values = static_cast<const int8_t*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(values[i]) * row_scale;
}

void dequantize_row_scalar(DType type, const void* src, float* dst, size_t n) {
  if (!weight_type_supported(type)) unsupported(type);
  const auto* row = static_cast<const uint8_t*>(src);
  const size_t step = step_of(type);
  for (size_t k = 0; k < n; k += step) decode(type, row, k, n - k < step ? n - k : step, dst + k);
}

// Reference product: per (row, token) one double accumulator summed in element order, so the
// result never depends on the token count or the row slice.
void matmul_rows_scalar(const MatmulArgs& a) {
  if (!weight_type_supported(a.type)) unsupported(a.type);
  constexpr size_t kTokenChunk = 64;
  const size_t step = step_of(a.type);
  const auto* w = static_cast<const uint8_t*>(a.w);
  float buf[kMaxBlock];
  double acc[kTokenChunk];
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const uint8_t* row = w + r * a.w_row_bytes;
    for (size_t t0 = 0; t0 < a.n_tokens; t0 += kTokenChunk) {
      const size_t nt = a.n_tokens - t0 < kTokenChunk ? a.n_tokens - t0 : kTokenChunk;
      for (size_t t = 0; t < nt; ++t) acc[t] = 0.0;
      for (size_t k = 0; k < a.n; k += step) {
        const size_t count = a.n - k < step ? a.n - k : step;
        decode(a.type, row, k, count, buf);
        for (size_t t = 0; t < nt; ++t) {
          const float* x = a.x + (t0 + t) * a.x_stride + k;
          double s = acc[t];
          for (size_t i = 0; i < count; ++i) s += static_cast<double>(buf[i]) * static_cast<double>(x[i]);
          acc[t] = s;
        }
      }
      for (size_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.y_stride + r] = static_cast<float>(acc[t]);
    }
  }
}

float fp16_to_fp32(uint16_t h) { return half_to_float(h); }

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf / nan (nan stays a quiet nan)
    if (ax == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (ax < 0x38800000u) {  // below the smallest normal half (2^-14)
    if (ax < 0x33000000u) return sign;  // <= 2^-25 rounds to zero
    const uint32_t e = ax >> 23;
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = (ax >> 13) - (112u << 10);
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

float bf16_to_fp32(uint16_t h) { return bfloat_to_float(h); }

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace jisu::cpu
