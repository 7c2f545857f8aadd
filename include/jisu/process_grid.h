#pragma once
// The process grid of `mpirun -np K jisu ... --tp N --pp M` (docs/distributed.md): K = N * M
// processes; tensor rank = rank % N, pipeline rank = rank / N. The default, 1 x 1, is one
// process as always.
#include <cstdint>

namespace jisu {

struct ProcessGrid {
  int32_t tensor_parallel = 1;
  int32_t pipeline_parallel = 1;
  int32_t micro_batches = 0;    // pipeline: parts each step is split into (0: one per stage)
  double timeout_seconds = 60;  // the longest any one grid transfer may wait before every rank fails
  bool distributed() const { return tensor_parallel * pipeline_parallel > 1; }
};

}  // namespace jisu
