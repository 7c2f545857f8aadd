#include "models/forward_factory.h"

#include <algorithm>

#include "backends/backend_factory.h"
#include "core/error.h"
#include "models/grid_forward.h"
#include "models/transformer.h"

namespace jisu {

std::optional<Device> device_from_name(std::string_view name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  return std::nullopt;
}

std::unique_ptr<ForwardPass> make_forward_pass(const DeviceOptions& device, const ModelConfig& config,
                                               const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens,
                                               const KvCache& cache) {
  if (device.grid.distributed() || launched_world_size() > 1)
    return make_grid_forward(device, config, weights, pool, max_batch_tokens, cache);
  std::vector<Stage> stages;
  int32_t cpu_layers = config.n_layer;
  if (device.device == Device::Cuda && device.gpu_layers != 0) {
    const int32_t gpu_layers = device.gpu_layers < 0 ? config.n_layer : std::min(device.gpu_layers, config.n_layer);
    stages.push_back({make_backend(Device::Cuda, config, pool), gpu_layers});
    cpu_layers -= gpu_layers;
  }
  if (cpu_layers > 0) stages.push_back({make_backend(Device::Cpu, config, pool), cpu_layers});
  return std::make_unique<Transformer>(config, weights, std::move(stages), max_batch_tokens, cache);
}

}  // namespace jisu
