#pragma once
// The forward pass of a process grid (`mpirun -np K jisu ... --tp N --pp M`). Rank 0 is the
// leader: the command (run, logits, bench, serve) runs there as in one process, and each of its
// forward() calls broadcasts the step (the batch and the block tables of its sequences) to every
// rank; all ranks then step the same batch. Within a pipeline stage the tensor ranks split each
// layer (models/tensor_shards.h) and all-reduce after attention and after the FFN; stages hold
// contiguous layer ranges balanced by weight bytes, the output layer counted on the last
// (models/pipeline_stages.h), and pass hidden rows point to point, one micro-batch after another so
// that stage k works on part i+1 while stage k+1 works on part i. The last stage sends the
// logits to rank 0.
//
// The other ranks never return from make_forward_pass: they follow rank 0's steps until it
// stops, then throw GridWorkerFinished, which main() turns into the exit status. A peer that
// dies or stalls ends every rank with an error within the grid timeout (parallel/world.h), and
// an idle leader sends a heartbeat so that waiting for the next step is bounded as well.
#include <memory>

#include "backends/backend_factory.h"
#include "core/thread_pool.h"
#include "kv/kv_cache.h"
#include "models/forward_pass.h"
#include "models/model_config.h"
#include "models/model_weights.h"
#include "parallel/world.h"

namespace jisu {

struct DeviceOptions;

// Thrown on ranks other than 0 after rank 0 stopped the grid; not a std::exception, so no
// error handler on the way takes it for a failure.
struct GridWorkerFinished {
  int exit_code = 0;
};

// Joins the grid, prepares this rank's share and agrees with every rank that the model and
// the options match (else one jisu::Error, the same on every rank). Rank 0 gets the forward
// pass; other ranks serve steps here until rank 0 stops, then throw GridWorkerFinished.
std::unique_ptr<ForwardPass> make_grid_forward(const DeviceOptions& device, const ModelConfig& config,
                                               const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens,
                                               const KvCache& cache);

}  // namespace jisu
