#pragma once
// Makes a backend by device: the only place above src/backends that names one. Models and
// tools pick a device once and then see only backends/backend.h.
#include <memory>

#include "backends/backend.h"
#include "core/thread_pool.h"

namespace jisu {

enum class Device { Cpu, Cuda };

class Communicator;

// Throws jisu::Error with one line when the device cannot run: jisu built without CUDA or no
// CUDA device visible, or a tensor-parallel group on a backend without collectives (CUDA has
// no NCCL communicator yet).
std::unique_ptr<Backend> make_backend(Device device, const TransformerShape& shape, ThreadPool& pool,
                                      Communicator* tensor_group = nullptr);

}  // namespace jisu
