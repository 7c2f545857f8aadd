#include "backends/cpu/weight_copy.h"

#include <sys/mman.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace jisu::cpu {

WeightCopyMemory::WeightCopyMemory(size_t bytes, std::string_view what) : bytes_(bytes) {
  void* mapping = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw Error("cannot allocate " + std::to_string(bytes) + " bytes for " + std::string(what));
  ::madvise(mapping, bytes, MADV_HUGEPAGE);  // a hint
  data_ = static_cast<uint8_t*>(mapping);
}

WeightCopyMemory::~WeightCopyMemory() { ::munmap(data_, bytes_); }

void write_groups_in_parallel(size_t groups, size_t bytes, FunctionRef<void(size_t, size_t)> write) {
  const size_t by_size = std::max<size_t>(1, bytes >> 22);
  const size_t n_threads = std::min<size_t>({by_size, std::max(1u, std::thread::hardware_concurrency()), std::max<size_t>(1, groups)});
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n_threads; ++i)
    threads.emplace_back([&, i] { write(groups * i / n_threads, groups * (i + 1) / n_threads); });
  write(0, groups / n_threads);
  for (auto& thread : threads) thread.join();
}

}  // namespace jisu::cpu
