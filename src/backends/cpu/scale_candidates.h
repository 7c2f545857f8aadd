#pragma once
// The inner loop of the quantizer's scale searches (compress/scale_search.cpp): the
// least-squares sums of many candidate scales of one group of weights at once. Candidate c
// rounds every value to a level
//     l_i = nearest_level((x_i - offset) * inverses[c], low, high)
// and gets, summed over i in order, in double, each term computed as written:
//     sl[c] = sum w_i l_i,   sll[c] = sum (w_i l_i) l_i,   slx[c] = sum (w_i l_i) x_i
// (w_i l_i is exact in double: a float times an integer of at most 8 bits, so (w l) x and
// (w x) l round the same exact product the same way). The SIMD paths evaluate the candidates
// in vector lanes, each lane summing over i in the same order, so they give the scalar
// reference's sums bit for bit (their source is compiled without contracting a * b + c into
// fused multiply-adds: CMakeLists.txt). A value out of nearest_level's fast range (a huge
// or NaN inverse or x) sends the whole call to the reference.
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace jisu::cpu {

// std::lround(value) (halves away from zero) without a library call: the truncation t is exact
// in float and value - t is exact (|value - t| < 1, same sign, and t within a factor 2 of value
// when |value| >= 1), so comparing the remainder with +-0.5 rounds exactly as lround does, for
// |value| < kFastRoundLimit. Beyond it (and for NaN) lround itself.
constexpr float kFastRoundLimit = 0x1p30f;
inline int nearest_level(float value, int low, int high) {
  if (!(std::fabs(value) < kFastRoundLimit)) [[unlikely]]
    return std::clamp(static_cast<int>(std::lround(value)), low, high);
  int truncated = static_cast<int>(value);
  const float remainder = value - static_cast<float>(truncated);
  truncated += static_cast<int>(remainder >= 0.5f) - static_cast<int>(remainder <= -0.5f);
  return std::clamp(truncated, low, high);
}

struct ScaleCandidates {
  const float* x;
  const float* w;
  size_t n;
  float offset;
  int low, high;          // low <= high
  const float* inverses;  // count candidates
  size_t count;
  double* sl;   // count each; sl may be null (not wanted)
  double* sll;
  double* slx;
};

void scale_candidate_sums_scalar(const ScaleCandidates& c);

}  // namespace jisu::cpu
