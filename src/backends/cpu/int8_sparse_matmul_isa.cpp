// The sparse int8 kernels (int8_sparse_matmul.h), compiled once per ISA (vector_isa.h); they
// reproduce int8_sparse_matmul_scalar.cpp bit for bit.
//
// A block's kept values are expanded into their positions 32 at a time:
//  - AVX-512 builds: one masked expanding load (vpexpandb, AVX512-VBMI2, which this file turns
//    on for them; the dispatcher takes the avx2 kernel on a CPU without VBMI2). It reads only
//    the kept bytes.
//  - AVX2 builds: 16 at a time with one byte shuffle: each mask byte indexes a table of 8
//    shuffle indices (the rank of each kept position among the kept ones, 0x80 where pruned,
//    which the shuffle turns into 0), the second byte's indices are moved past the first
//    byte's values.
// The expanded 32 bytes then meet the activation block as Q8_0's do: dot(|w|, sign(x, w)) with
// IntDot into 8 int32 lanes, accumulated as floats lane by lane and summed once per row. A row
// is expanded once per tile of up to 4 tokens.
#include "backends/cpu/vector_isa.h"

#include <array>
#include <bit>
#include <cstring>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/sparse_blocks.h"

#if defined(__AVX512F__)
#pragma GCC target("avx512vbmi2")
#define JISU_SPARSE_EXPAND_LOAD 1
#else
#define JISU_SPARSE_EXPAND_LOAD 0
#endif

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

#if JISU_SPARSE_EXPAND_LOAD
// The 32 weights of `mask`, whose popcount(mask) values start at `values`.
JISU_AI __m256i expand32(uint32_t mask, const uint8_t* values, const uint8_t*) {
  return _mm256_maskz_expandloadu_epi8(mask, values);
}
// An N:M block's 32 weights from its 16 values.
JISU_AI __m256i expand_nm(uint32_t mask, const uint8_t* values) { return _mm256_maskz_expandloadu_epi8(mask, values); }
#else
// kExpandIndices[m] byte j: the rank of bit j among the set bits of m, or 0x80 if bit j is clear.
constexpr std::array<uint64_t, 256> make_expand_indices() {
  std::array<uint64_t, 256> table{};
  for (uint32_t m = 0; m < 256; ++m) {
    uint64_t entry = 0;
    uint32_t rank = 0;
    for (uint32_t j = 0; j < 8; ++j) entry |= static_cast<uint64_t>(((m >> j) & 1) ? rank++ : 0x80u) << (8 * j);
    table[m] = entry;
  }
  return table;
}
alignas(64) constexpr std::array<uint64_t, 256> kExpandIndices = make_expand_indices();

constexpr uint64_t kEveryByte = 0x0101010101010101ull;

// The 16 weights of mask bits `mask16`, whose values start at byte `first` of `values`
// (first + popcount(mask16) <= 16; first < 16).
JISU_AI __m128i expand16(__m128i values, uint32_t mask16, uint32_t first) {
  const uint32_t low = mask16 & 0xFF, high = mask16 >> 8;
  const uint64_t high_first = first + static_cast<uint32_t>(std::popcount(low));
  const __m128i indices = _mm_set_epi64x(static_cast<long long>(kExpandIndices[high]), static_cast<long long>(kExpandIndices[low]));
  const __m128i offsets = _mm_set_epi64x(static_cast<long long>(high_first * kEveryByte), static_cast<long long>(first * kEveryByte));
  // 0x80 + offset (< 0x90) keeps its top bit: pruned positions stay 0.
  return _mm_shuffle_epi8(values, _mm_add_epi8(indices, offsets));
}

// 16 bytes from p, of which only those before `end` are read (the rest 0).
JISU_AI __m128i load16_before(const uint8_t* p, const uint8_t* end) {
  if (end - p >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint8_t bytes[16] = {};
  std::memcpy(bytes, p, static_cast<size_t>(end - p));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(bytes));
}

JISU_AI __m256i expand32(uint32_t mask, const uint8_t* values, const uint8_t* row_end) {
  const uint32_t low = mask & 0xFFFF, high = mask >> 16;
  const __m128i first = expand16(load16_before(values, row_end), low, 0);
  const __m128i second = expand16(load16_before(values + std::popcount(low), row_end), high, 0);
  return _mm256_set_m128i(second, first);
}
// One load of the block's 16 values serves both halves.
JISU_AI __m256i expand_nm(uint32_t mask, const uint8_t* values) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values));
  const __m128i low = expand16(bytes, mask & 0xFFFF, 0);
  const __m128i high = expand16(bytes, mask >> 16, static_cast<uint32_t>(std::popcount(mask & 0xFFFF)));
  return _mm256_set_m128i(high, low);
}
#endif

JISU_AI float half_to_float(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Signed weights times an activation block: the exact int32 lane sums of w * x.
JISU_AI __m256i signed_dot(__m256i magnitude, __m256i w, const int8_t* x) {
  return IntDot::dot(magnitude, _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), w));
}

// acc += float(lanes) * (d_w * x.d), lane by lane (the scalar reference's fma per lane).
JISU_AI __m256 accumulate(__m256 acc, __m256i lanes, float d, float x_d) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(d * x_d), acc);
}

template <int NT>
JISU_AI void sparse_q8_row(const uint8_t* row, const uint8_t* row_end, size_t n, const ActivationBlock* const* x,
                           __m256* acc) {
  for (size_t b = 0; b < n / kSparseBlockElements; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(row + kPrefetchBytes), _MM_HINT_T0);
    const uint64_t mask = load_u64(row);
    const float d = half_to_float(row + 8);
    const uint8_t* values = row + kSparseBlockHeaderBytes;
    const __m256i w0 = expand32(static_cast<uint32_t>(mask), values, row_end);
    values += std::popcount(static_cast<uint32_t>(mask));
    const __m256i w1 = expand32(static_cast<uint32_t>(mask >> 32), values, row_end);
    values += std::popcount(static_cast<uint32_t>(mask >> 32));
    const __m256i m0 = _mm256_abs_epi8(w0), m1 = _mm256_abs_epi8(w1);
    for (int t = 0; t < NT; ++t) {
      const ActivationBlock& x0 = x[t][2 * b];
      const ActivationBlock& x1 = x[t][2 * b + 1];
      acc[t] = accumulate(acc[t], signed_dot(m0, w0, x0.qs), d, x0.d);
      acc[t] = accumulate(acc[t], signed_dot(m1, w1, x1.qs), d, x1.d);
    }
    row = values;
  }
}

template <int NT>
JISU_AI void nm_q8_row(const uint8_t* row, size_t n, const ActivationBlock* const* x, __m256* acc) {
  for (size_t b = 0; b < n / kNmBlockElements; ++b, row += kNmBlockBytes) {
    if (b % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(row + kPrefetchBytes), _MM_HINT_T0);
    const float d = half_to_float(row + 4);
    const __m256i w = expand_nm(load_u32(row), row + kNmBlockHeaderBytes);
    const __m256i magnitude = _mm256_abs_epi8(w);
    for (int t = 0; t < NT; ++t) acc[t] = accumulate(acc[t], signed_dot(magnitude, w, x[t][b].qs), d, x[t][b].d);
  }
}

template <int NT>
void rows_tile(const Int8MatmulArgs& a, size_t first_token) {
  const ActivationBlock* x[NT];
  for (int t = 0; t < NT; ++t)
    x[t] = reinterpret_cast<const ActivationBlock*>(reinterpret_cast<const char*>(a.xq) + (first_token + t) * a.xq_stride_bytes);
  const bool nm = a.type == kJisuNmQ8;
  const size_t sparse_row_bytes = row_bytes(a.type, a.n);
  for (size_t r = a.row_begin; r < a.row_end; ++r) {
    const auto* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    if (nm)
      nm_q8_row<NT>(row, a.n, x, acc);
    else
      sparse_q8_row<NT>(row, row + sparse_row_bytes, a.n, x, acc);
    for (int t = 0; t < NT; ++t) a.y[(first_token + t) * a.y_stride + r] = horizontal_sum(acc[t]);
  }
}

}  // namespace

void matmul_rows_sparse_int8(const Int8MatmulArgs& a) {
  size_t t = 0;
  for (; t + 4 <= a.n_tokens; t += 4) rows_tile<4>(a, t);
  switch (a.n_tokens - t) {
    case 3: rows_tile<3>(a, t); break;
    case 2: rows_tile<2>(a, t); break;
    case 1: rows_tile<1>(a, t); break;
    default: break;
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA

#undef JISU_SPARSE_EXPAND_LOAD
