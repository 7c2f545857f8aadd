#pragma once
// What the weight copies made at load (RepackedWeights, NmRepackedWeights) share: their memory,
// an anonymous mapping (page aligned, so 64-byte aligned; zero filled, so padding is 0) with huge
// pages requested (fewer TLB misses when the kernels stream it), and the split of their writing
// over the cores.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/function_ref.h"

namespace jisu::cpu {

class WeightCopyMemory {
 public:
  // Throws jisu::Error naming `what` when the mapping fails.
  WeightCopyMemory(size_t bytes, std::string_view what);
  ~WeightCopyMemory();
  WeightCopyMemory(const WeightCopyMemory&) = delete;
  WeightCopyMemory& operator=(const WeightCopyMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// Calls write(g_begin, g_end) for slices covering groups [0, groups) of a copy of `bytes`
// bytes, on up to hardware_concurrency threads (the caller's among them). Most of the time is
// page faults (reading the file, zeroing the new pages), which run in parallel; slices of at
// least 4 MiB keep the thread start-up negligible. `write` must not depend on the split.
void write_groups_in_parallel(size_t groups, size_t bytes, FunctionRef<void(size_t, size_t)> write);

}  // namespace jisu::cpu
