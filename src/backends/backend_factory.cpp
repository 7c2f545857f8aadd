#include "backends/backend_factory.h"

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"

namespace jisu {

std::unique_ptr<Backend> make_backend(Device device, const TransformerShape& shape, ThreadPool& pool) {
  if (device == Device::Cuda) return cuda::make_backend(shape);
  return cpu::make_cpu_backend(shape, pool);
}

}  // namespace jisu
