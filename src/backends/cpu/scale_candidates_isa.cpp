// scale_candidate_sums per vector width (scale_candidates.h; scale_candidate_sums_scalar is the
// reference). The candidates sit in the lanes of FloatVec-wide vectors (8 or 16): for each value
// x_i the kLanes products (x_i - offset) * inverse are rounded and clamped as nearest_level does
// (truncate, then compare the exact remainder with +-0.5), widened to double, and added onto each
// lane's three sums, so every lane sums over i in the reference's order. Two vectors of
// candidates share a pass over x (their sums are independent chains, which hides the adds'
// latency). Written with GCC vector types rather than intrinsics (nothing here differs between
// the widths except kLanes), the int32-to-double widening through FloatVec; the doubles are
// one register wide: a kLanes-wide double vector type went through the stack (GCC 12; the
// TinyLlama-shape Q4_K_M took 120 s of CPU instead of 70 s).
#include "backends/cpu/vector_isa.h"

#include <algorithm>

#include "backends/cpu/scale_candidates.h"

namespace jisu::cpu::JISU_KERNEL_ISA {
namespace {

constexpr int kLanes = FloatVec::kLanes;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t Ints __attribute__((vector_size(kLanes * sizeof(int32_t))));
// Half a vector of candidates as doubles: one register.
constexpr int kHalf = kLanes / 2;
typedef double Doubles __attribute__((vector_size(kHalf * sizeof(double))));
static_assert(sizeof(Floats) == sizeof(FloatVec::F) && sizeof(Doubles) == sizeof(FloatVec::D));

// The lower (kPart 0) or upper (1) half of the lanes, as doubles.
template <int kPart>
JISU_AI Doubles half_as_doubles(Ints v) {
  const auto lanes = reinterpret_cast<FloatVec::I>(v);
  return reinterpret_cast<Doubles>(kPart == 0 ? FloatVec::low_lanes_as_doubles(lanes) : FloatVec::high_lanes_as_doubles(lanes));
}

// Candidates [first, first + kVectors * kLanes) (lanes past count get inverse 0 and are not
// stored). Returns false when some value is outside nearest_level's fast range.
template <int kVectors>
JISU_AI bool candidate_sums(const ScaleCandidates& c, size_t first) {
  Floats inverse[kVectors];
  for (int v = 0; v < kVectors; ++v)
    for (int lane = 0; lane < kLanes; ++lane) {
      const size_t k = first + static_cast<size_t>(v * kLanes + lane);
      inverse[v][lane] = k < c.count ? c.inverses[k] : 0.0f;
    }
  Doubles sl[2 * kVectors] = {}, sll[2 * kVectors] = {}, slx[2 * kVectors] = {};
  const Ints low = Ints{} + c.low, high = Ints{} + c.high, magnitude = Ints{} + 0x7fffffff;
  const Floats limit = Floats{} + kFastRoundLimit;
  Ints out_of_range = {};
  for (size_t i = 0; i < c.n; ++i) {
    const float shifted = c.x[i] - c.offset;
    const Doubles w = Doubles{} + static_cast<double>(c.w[i]), x = Doubles{} + static_cast<double>(c.x[i]);
    for (int v = 0; v < kVectors; ++v) {
      Floats value = shifted * inverse[v];
      const Ints in_range = reinterpret_cast<Floats>(reinterpret_cast<Ints>(value) & magnitude) < limit;
      out_of_range |= ~in_range;
      value = in_range ? value : Floats{};
      Ints level = __builtin_convertvector(value, Ints);
      const Floats remainder = value - __builtin_convertvector(level, Floats);
      level -= remainder >= 0.5f;  // comparisons give -1 where true
      level += remainder <= -0.5f;
      level = level < low ? low : level;
      level = level > high ? high : level;
      static_for<2>([&](auto part) {
        const Doubles l = half_as_doubles<part>(level);
        const Doubles wl = w * l;
        const int a = 2 * v + part;
        sl[a] += wl, sll[a] += wl * l, slx[a] += wl * x;
      });
    }
  }
  for (int lane = 0; lane < kLanes; ++lane)
    if (out_of_range[lane]) return false;
  for (int v = 0; v < kVectors; ++v)
    for (int lane = 0; lane < kLanes; ++lane) {
      const size_t k = first + static_cast<size_t>(v * kLanes + lane);
      if (k >= c.count) break;
      const int a = 2 * v + lane / kHalf, in_half = lane % kHalf;
      if (c.sl) c.sl[k] = sl[a][in_half];
      c.sll[k] = sll[a][in_half], c.slx[k] = slx[a][in_half];
    }
  return true;
}

}  // namespace

void scale_candidate_sums(const ScaleCandidates& c) {
  size_t first = 0;
  bool fast = true;
  for (; fast && first + kLanes < c.count; first += 2 * kLanes) fast = candidate_sums<2>(c, first);
  for (; fast && first < c.count; first += kLanes) fast = candidate_sums<1>(c, first);
  if (!fast) scale_candidate_sums_scalar(c);
}

}  // namespace jisu::cpu::JISU_KERNEL_ISA
