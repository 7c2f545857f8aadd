#pragma once
// The CUDA backend's whole surface towards the rest of jisu: plain C++, no CUDA headers, so it
// compiles in every build. With JISU_CUDA off the definitions come from
// backends/cuda_stub/cuda_backend_stub.cpp: queries say "no CUDA", factories throw
// "jisu was built without CUDA" (the CTranslate2 way of an optional library behind a stub).
#include <cstdint>
#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "models/forward_pass.h"
#include "models/model_config.h"
#include "models/model_weights.h"
#include "runtime/kv_cache.h"

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

// The forward pass with layers [0, gpu_layers) on device 0 and the rest (and then the output
// head) on the CPU; gpu_layers is clamped to [1, n_layer]. The device KV cache mirrors `cache`
// (same blocks, block size and block tables); forward() must then be given that cache.
// Throws jisu::Error when built without CUDA, with no device visible, or for a model the
// backend does not run (mixture of experts, head_dim not a multiple of 32 up to 256, matrix
// widths not multiples of 32), and for any CUDA/cuBLAS failure.
std::unique_ptr<ForwardPass> make_forward_pass(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool,
                                               int32_t max_batch_tokens, const KvCache& cache, int32_t gpu_layers);

}  // namespace jisu::cuda
