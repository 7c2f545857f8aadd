#include "backends/backend_factory.h"

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "parallel/communicator.h"

namespace jisu {

std::unique_ptr<Backend> make_backend(Device device, const TransformerShape& shape, ThreadPool& pool,
                                      Communicator* tensor_group) {
  if (device == Device::Cuda) {
    if (tensor_group && tensor_group->size() > 1)
      throw Error("tensor parallelism (--tp) runs on the CPU backend only: the CUDA backend has no NCCL collectives yet",
                  "use --device cpu, or --pp to split layers");
    return cuda::make_backend(shape);
  }
  return cpu::make_cpu_backend(shape, pool, tensor_group);
}

}  // namespace jisu
