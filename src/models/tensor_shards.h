#pragma once
// One tensor-parallel rank's view of a model (Megatron): its share of the query and KV heads
// and of the FFN neurons. Q/K/V and gate/up keep their rows for those (views into the mapped
// file, or a copy for fused tensors), attention output and down keep the matching input
// columns (column shards the backend copies at load), so each rank holds about 1/N of the
// layer weights and 1/N of the K/V. The config is the rank's local shape (n_head / N, ...), so
// the one layer sequence runs unchanged; its all_reduce_sum after the attention output and
// after down adds the ranks' partial sums. The output layer is split by vocabulary when N
// divides it (config.n_vocab is then the local share); embedding and norms stay whole.
#include <memory>

#include "models/model_config.h"
#include "models/model_weights.h"
#include "parallel/shard_plan.h"

namespace jisu {

struct TensorShard {
  ModelConfig config;    // the local shape
  ModelWeights weights;  // every layer's entry; sharded within `layers`
  ShardStore copies;     // rows of fused tensors
};

// Throws jisu::Error naming the dimension when `size` ranks cannot split the model.
void check_tensor_split(const ModelConfig& config, int size);
// Rank `rank` of `size`'s shard of layers `layers` (other layers are left unsharded and unused).
std::unique_ptr<TensorShard> make_tensor_shard(const ModelConfig& config, const ModelWeights& weights, int rank,
                                               int size, ShardRange layers);

}  // namespace jisu
