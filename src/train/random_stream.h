#pragma once
// A small deterministic random stream (SplitMix64) keyed by (seed, stream): the same key gives
// the same numbers on every machine and thread count. Used for initial weights and for the
// windows each training step reads, so a run resumed at step t reads what it would have read.
#include <cmath>
#include <cstdint>

#include "core/splitmix64.h"

namespace jisu::train {

class RandomStream {
 public:
  RandomStream(uint64_t seed, uint64_t stream)
      : state_(seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull) {
    next();
  }
  uint64_t next() { return splitmix64(state_); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t bound) { return bound ? next() % bound : 0; }
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace jisu::train
