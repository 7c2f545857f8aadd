#pragma once
// --device and --gpu-layers, shared by the commands that build a forward pass (run, bench).
// The values are checked where the forward pass is made (models/forward_factory.h), so a
// build without CUDA or a machine without a GPU gives one error line and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "parallel/world.h"

namespace jisu::cli {

// --tp, --pp, --micro-batches and --grid-timeout: the process grid of `mpirun -np K jisu ...`
// (docs/distributed.md).
inline void add_grid_options(CLI::App& command, jisu::GridOptions& grid) {
  command.add_option("--tp", grid.tensor_parallel, "tensor-parallel ranks (under mpirun; world size = tp * pp)")
      ->check(CLI::Range(1, 4096));
  command.add_option("--pp", grid.pipeline_parallel, "pipeline stages, contiguous layer ranges (under mpirun)")
      ->check(CLI::Range(1, 4096));
  command.add_option("--micro-batches", grid.micro_batches, "pipeline: parts each step is split into (0: one per stage)")
      ->check(CLI::Range(0, 4096));
  command.add_option("--grid-timeout", grid.timeout_seconds,
                     "seconds any grid transfer may wait before every rank exits with an error")
      ->check(CLI::Range(0.1, 86400.0));
}

inline void add_device_options(CLI::App& command, std::string& device, int32_t& gpu_layers) {
  command.add_option("--device", device, "where the forward pass runs: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command.add_option("--gpu-layers", gpu_layers,
                     "cuda: layers on the GPU, from the first; the rest run on the CPU (default: all)")
      ->check(CLI::Range(-1, 1 << 20));
}

}  // namespace jisu::cli
