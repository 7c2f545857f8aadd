#pragma once
// --device and --gpu-layers, shared by the commands that build a forward pass (run, bench).
// The values are checked where the forward pass is made (models/forward_factory.h), so a
// build without CUDA or a machine without a GPU gives one error line and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace jisu::cli {

inline void add_device_options(CLI::App& command, std::string& device, int32_t& gpu_layers) {
  command.add_option("--device", device, "where the forward pass runs: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command.add_option("--gpu-layers", gpu_layers,
                     "cuda: layers on the GPU, from the first; the rest run on the CPU (default: all)")
      ->check(CLI::Range(-1, 1 << 20));
}

}  // namespace jisu::cli
