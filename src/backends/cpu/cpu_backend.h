#pragma once
// The CPU backend: the kernels of this folder behind backends/backend.h, on the persistent
// thread pool. Weights stay in the mapped file except the integer kernels' repacked copies
// (int8_repacked_weights.h), made once at load; activations and K/V live in arenas planned at
// load.
#include <memory>

#include "backends/backend.h"
#include "core/thread_pool.h"

namespace jisu {
class Communicator;
}

namespace jisu::cpu {

// tensor_group: the ranks that share this process's layers by tensor parallelism (its
// all_reduce_sum sums over them); null for one process.
std::unique_ptr<Backend> make_cpu_backend(const TransformerShape& shape, ThreadPool& pool,
                                          Communicator* tensor_group = nullptr);

}  // namespace jisu::cpu
