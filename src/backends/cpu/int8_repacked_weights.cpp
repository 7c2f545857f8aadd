#include "backends/cpu/int8_repacked_weights.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/quant_blocks.h"
#include "core/error.h"

namespace jisu::cpu {

bool can_repack(DType type, size_t rows, size_t cols) {
  const bool block32 = type == DType::Q4_0 || type == DType::Q8_0 || type == DType::IQ4_NL;
  return block32 && rows > 0 && rows % kRepackRows == 0 && cols > 0 && cols % kQK == 0;
}

size_t repacked_quant_bytes(DType type) { return kRepackRows * (traits(type).block_bytes - 2); }

size_t repacked_group_bytes(DType type, size_t cols) {
  const size_t blocks = cols / kQK;
  return (blocks * (repacked_quant_bytes(type) + 2 * kRepackRows) + 63) / 64 * 64;
}

RepackedWeights::RepackedWeights(DType type, const void* w, size_t row_bytes, size_t rows, size_t cols) {
  if (!can_repack(type, rows, cols))
    throw Error("cannot repack a " + std::string(dtype_name(type)) + " matrix of " + std::to_string(rows) + " x " +
                std::to_string(cols));
  const size_t blocks = cols / kQK, block_bytes = traits(type).block_bytes, quant_bytes = repacked_quant_bytes(type);
  const size_t lane_bytes = block_bytes - 2;  // one row's quants of a block: 16 (4-bit) or 32 (Q8_0)
  group_bytes_ = repacked_group_bytes(type, cols);
  bytes_ = rows / kRepackRows * group_bytes_;
  // mmap: page aligned (so 64-byte aligned) and zero filled (the padding), released by munmap.
  void* mapping = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw Error("cannot allocate " + std::to_string(bytes_) + " bytes for repacked weights");
  ::madvise(mapping, bytes_, MADV_HUGEPAGE);  // a hint: fewer TLB misses when streaming
  data_ = static_cast<uint8_t*>(mapping);
  const auto* src = static_cast<const uint8_t*>(w);
  // Written in order (each output byte once, front to back); the 8 source rows are read
  // block by block, 8 sequential streams.
  const auto repack_groups = [&](size_t g_begin, size_t g_end) {
    for (size_t g = g_begin; g < g_end; ++g) {
      const uint8_t* row[kRepackRows];
      for (size_t r = 0; r < kRepackRows; ++r) row[r] = src + (g * kRepackRows + r) * row_bytes;
      uint8_t* out = data_ + g * group_bytes_;
      for (size_t b = 0; b < blocks; ++b) {
        // Vector k, lane r <- bytes 4k..4k+3 of row r's quants.
        for (size_t k = 0; k < lane_bytes / 4; ++k)
          for (size_t r = 0; r < kRepackRows; ++r) std::memcpy(out + 32 * k + 4 * r, row[r] + b * block_bytes + 2 + 4 * k, 4);
        out += quant_bytes;
      }
      for (size_t b = 0; b < blocks; ++b)
        for (size_t r = 0; r < kRepackRows; ++r) std::memcpy(out + b * 2 * kRepackRows + 2 * r, row[r] + b * block_bytes, 2);
    }
  };
  // Large matrices are split over the cores: most of the time is page faults (reading the file,
  // zeroing the new pages), which run in parallel. Slices of at least 4 MiB keep the thread
  // start-up negligible; the result does not depend on the split.
  const size_t groups = rows / kRepackRows;
  const size_t by_size = std::max<size_t>(1, bytes_ >> 22);
  const size_t n_threads = std::min<size_t>({by_size, std::max(1u, std::thread::hardware_concurrency()), groups});
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n_threads; ++i) threads.emplace_back(repack_groups, groups * i / n_threads, groups * (i + 1) / n_threads);
  repack_groups(0, groups / n_threads);
  for (auto& thread : threads) thread.join();
}

RepackedWeights::~RepackedWeights() {
  if (data_) ::munmap(data_, bytes_);
}

}  // namespace jisu::cpu
