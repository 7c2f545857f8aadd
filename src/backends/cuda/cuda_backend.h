#pragma once
// The CUDA backend's whole surface towards the rest of jisu: plain C++, no CUDA headers, so it
// compiles in every build. With JISU_CUDA off the definitions come from
// backends/cuda_stub/cuda_backend_stub.cpp: queries say "no CUDA", factories throw
// "jisu was built without CUDA" (the CTranslate2 way of an optional library behind a stub).
#include <cstdint>
#include <memory>
#include <string>

#include "backends/backend.h"

namespace jisu::cuda {

// True when this binary contains the CUDA backend.
bool backend_built();
// Visible CUDA devices; 0 when none, when the driver is missing, or when built without CUDA
// (never throws).
int device_count();
// "NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB"; throws jisu::Error without a device.
std::string device_description();
// Device-to-device copy bandwidth of device 0 in GB/s (bytes read + bytes written per second),
// the roofline the bench compares against. Throws jisu::Error without a device.
double copy_bandwidth_gbps();

// The backend on device 0. Throws jisu::Error when built without CUDA or with no device
// visible; check_supported() refuses, with a reason, a model the kernels do not run (mixture of
// experts, head_dim not a multiple of 32 up to 256, matrix widths not multiples of 32). Any
// CUDA/cuBLAS failure later is a jisu::Error too.
std::unique_ptr<Backend> make_backend(const TransformerShape& shape);

}  // namespace jisu::cuda
