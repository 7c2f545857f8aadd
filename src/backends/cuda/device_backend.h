#pragma once
// The CUDA implementation of backends/backend.h (device 0). Only cuda_backend.cpp makes one,
// after checking that a device is visible.
#include <memory>

#include "backends/backend.h"

namespace jisu::cuda {

std::unique_ptr<Backend> make_device_backend(const TransformerShape& shape);

}  // namespace jisu::cuda
