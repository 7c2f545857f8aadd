#pragma once
// The forward pass for a device: the one Transformer over the CPU backend, or over the CUDA
// backend for its first gpu_layers layers and the CPU backend for the rest. The only place
// outside the backends that knows CUDA exists.
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "backends/backend_factory.h"
#include "core/thread_pool.h"
#include "models/forward_pass.h"
#include "models/model_config.h"
#include "models/model_weights.h"
#include "kv/kv_cache.h"
#include "parallel/world.h"

namespace jisu {

struct DeviceOptions {
  // A constructor rather than an aggregate, so callers may leave out the trailing members.
  DeviceOptions(Device device_ = Device::Cpu, int32_t gpu_layers_ = -1, GridOptions grid_ = {})
      : device(device_), gpu_layers(gpu_layers_), grid(grid_) {}
  Device device = Device::Cpu;
  int32_t gpu_layers = -1;  // CUDA: layers on the GPU, from the first; < 0: all
  GridOptions grid;         // --tp / --pp under mpirun (models/grid_forward.h)
};

// "cpu" / "cuda"; nullopt otherwise.
std::optional<Device> device_from_name(std::string_view name);

// Throws jisu::Error with one line when the device cannot run: jisu built without CUDA, no CUDA
// device visible, or a model the device does not support. gpu_layers == 0 with CUDA runs on
// the CPU. `cache` is the KV cache the forward pass will be given (its geometry sizes the
// device copy).
std::unique_ptr<ForwardPass> make_forward_pass(const DeviceOptions& device, const ModelConfig& config,
                                               const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens,
                                               const KvCache& cache);

}  // namespace jisu
