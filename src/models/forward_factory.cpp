#include "models/forward_factory.h"

#include "backends/cuda/cuda_backend.h"
#include "core/error.h"
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
  if (device.device == Device::Cuda && device.gpu_layers != 0) {
    const int32_t layers = device.gpu_layers < 0 ? config.n_layer : device.gpu_layers;
    return cuda::make_forward_pass(config, weights, pool, max_batch_tokens, cache, layers);
  }
  return std::make_unique<Transformer>(config, weights, pool, max_batch_tokens);
}

}  // namespace jisu
