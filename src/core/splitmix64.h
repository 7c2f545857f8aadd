#pragma once
// splitmix64 (Steele, Lea, Flood): the one step every deterministic generator of jisu builds on
// (the sampler's xoshiro seeding, random model weights, the trainer's initialisation). Its
// output is the same on every platform.
#include <cstdint>

namespace jisu {

// Advances state and returns the next value.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace jisu
