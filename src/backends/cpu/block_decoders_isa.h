#pragma once
// Block decoders of the weight and KV cache types that several per-ISA kernel sources inline
// (quant_kernels_isa.cpp: dequantize_row and matmul_rows; kv_head_rows_isa.h: the attention
// kernels' head rows). Include after vector_isa.h. One definition, so a KV head row decoded by
// the attention kernels has the bits dequantize_row gives it.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/cpu/quant_blocks.h"

namespace jisu::cpu::JISU_KERNEL_ISA::block_decoders {

using V = FloatVec;
using F = V::F;
using I = V::I;
constexpr int kLanes = V::kLanes;
constexpr int kVectors = 32 / kLanes;  // vectors per 32-element chunk
constexpr int kHalf = 16 / kLanes;     // vectors per 16 elements

JISU_AI float load_half(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Decoders. Interface:
//   kElems / kBytes: elements and bytes of one block (plain types: a 32-element group)
//   kChunks: 32-element chunks per block; kPlain: plain type (row may end in a partial group)
//   State prep(const uint8_t* block); template <int C> chunk(const State&, F w[kVectors])
//   plain types also: float scalar(const uint8_t* p, size_t i) for the elements past the last group


// Plain element types: kSize bytes per element, vec(p) = the kLanes elements from p as floats,
// scalar(p, i) = element i.
struct F32Elements {
  static constexpr size_t kSize = 4;
  static JISU_AI F vec(const uint8_t* p) { return V::load(reinterpret_cast<const float*>(p)); }
  static JISU_AI float scalar(const uint8_t* p, size_t i) {
    float f;
    std::memcpy(&f, p + 4 * i, sizeof f);
    return f;
  }
};

struct F16Elements {
  static constexpr size_t kSize = 2;
  static JISU_AI F vec(const uint8_t* p) { return V::from_half(p); }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return _cvtsh_ss(load_u16(p + 2 * i)); }
};

struct BF16Elements {
  static constexpr size_t kSize = 2;
  static JISU_AI F vec(const uint8_t* p) { return V::from_bfloat(p); }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return bfloat_to_float(load_u16(p + 2 * i)); }
};

// Decoder of a plain type (used by dequantize; the matmul has its own PlainKernel).
template <class E>
struct DecPlain {
  static constexpr size_t kElems = 32, kBytes = 32 * E::kSize;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = true;
  struct State {
    const uint8_t* p;
  };
  static JISU_AI State prep(const uint8_t* p) { return {p}; }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    for (int v = 0; v < kVectors; ++v) w[v] = E::vec(s.p + kLanes * v * E::kSize);
  }
  static JISU_AI float scalar(const uint8_t* p, size_t i) { return E::scalar(p, i); }
};
using DecF32 = DecPlain<F32Elements>;
using DecF16 = DecPlain<F16Elements>;
using DecBF16 = DecPlain<BF16Elements>;

// Q4_0: (q - 8) * d computed as fma(q, d, -8d) (exact: -8d is exact, one rounding).
// Q4_1: fma(q, d, m). Low nibbles are elements 0..15, high nibbles 16..31.
template <bool HasMin>
struct DecQ4 {
  static constexpr size_t kElems = 32, kBytes = HasMin ? 20 : 18;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    F d, b;
    I q[kHalf];
  };
  static JISU_AI State prep(const uint8_t* p) {
    const float d = load_half(p);
    constexpr size_t kQs = HasMin ? 4 : 2;
    State s;
    s.d = V::set1(d);
    s.b = HasMin ? V::set1(load_half(p + 2)) : V::set1(-8.0f * d);
    for (int k = 0; k < kHalf; ++k) s.q[k] = V::widen_u8(p + kQs + kLanes * k);
    return s;
  }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    const I m = V::splat(15);
    for (int k = 0; k < kHalf; ++k) {
      w[k] = V::fmadd(V::to_float(V::bit_and(s.q[k], m)), s.d, s.b);
      w[kHalf + k] = V::fmadd(V::to_float(V::shift_right(s.q[k], 4)), s.d, s.b);
    }
  }
};
using DecQ4_0 = DecQ4<false>;
using DecQ4_1 = DecQ4<true>;

struct DecQ8_0 {
  static constexpr size_t kElems = 32, kBytes = 34;
  static constexpr int kChunks = 1;
  static constexpr bool kPlain = false;
  struct State {
    F d;
    const uint8_t* q;
  };
  static JISU_AI State prep(const uint8_t* p) { return {V::set1(load_half(p)), p + 2}; }
  template <int C>
  static JISU_AI void chunk(const State& s, F* w) {
    for (int v = 0; v < kVectors; ++v) w[v] = V::mul(V::to_float(V::widen_i8(s.q + kLanes * v)), s.d);
  }
};

// The n elements (whole blocks; plain types may end in a partial group) at src as floats.
template <class D>
JISU_AI void dequantize_impl(const uint8_t* src, float* dst, size_t n) {
  const size_t nb = n / D::kElems;
  for (size_t b = 0; b < nb; ++b) {
    const typename D::State st = D::prep(src + b * D::kBytes);
    float* out = dst + b * D::kElems;
    static_for<D::kChunks>([&](auto c) __attribute__((always_inline)) {
      constexpr int C = decltype(c)::value;
      F w[kVectors];
      D::template chunk<C>(st, w);
      for (int v = 0; v < kVectors; ++v) V::store(out + 32 * C + kLanes * v, w[v]);
    });
  }
  if constexpr (D::kPlain) {
    const size_t rem = n - nb * D::kElems;
    for (size_t i = 0; i < rem; ++i) dst[nb * D::kElems + i] = D::scalar(src + nb * D::kBytes, i);
  }
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA::block_decoders
