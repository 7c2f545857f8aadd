// Builds without NCCL (no CUDA, or no nccl.h / libnccl next to the toolkit).
#include "parallel/nccl_communicator.h"

namespace jisu {

bool nccl_built() { return false; }

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, int, double) {
  throw Error("this jisu was built without NCCL", "build with the CUDA toolkit's NCCL (CMake finds nccl.h and libnccl)");
}

}  // namespace jisu
