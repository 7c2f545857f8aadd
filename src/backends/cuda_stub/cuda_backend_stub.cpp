// The CUDA backend's entry points in a build without CUDA (JISU_CUDA off or nvcc missing):
// queries answer "none", everything that needs a device throws one clear line.
#include "backends/cuda/cuda_backend.h"
#include "core/error.h"

namespace jisu::cuda {
namespace {
[[noreturn]] void built_without_cuda() {
  throw Error("jisu was built without CUDA", "rebuild with nvcc available (cmake -DJISU_CUDA=ON), or use --device cpu");
}
}  // namespace

bool backend_built() { return false; }
int device_count() { return 0; }
std::string device_description() { built_without_cuda(); }
double copy_bandwidth_gbps() { built_without_cuda(); }

std::unique_ptr<Backend> make_backend(const TransformerShape&) { built_without_cuda(); }

}  // namespace jisu::cuda
