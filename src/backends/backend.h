#pragma once
// The interface the model's one layer sequence (src/models/transformer.cpp) calls, and the only
// backend header src/models may include. A backend owns what it makes of the file's tensors (a
// repacked CPU copy, a device copy), the activation buffers it hands out, and the K/V storage of
// the layers it runs; the model owns the order of the steps. A new device is a new
// implementation of Backend; a new kind of weight (sparse, 2:4, low-rank pair, tensor-parallel
// shard) is a new LinearWeight behind Backend::linear, never a branch in the model.
//
// Invariants every implementation keeps:
//  - Activation rows are float. An Activations value points into the backend's own memory
//    (host for the CPU, device for CUDA); the model passes them back and never reads them.
//  - Nothing allocates, locks or logs per step: buffers come from plan_buffers and the K/V
//    storage from plan_kv, both called once at load.
//  - Ops run in call order; results are visible to the next op of the same backend. Only
//    read_rows / write_rows / read_logits cross to the host, and they wait for earlier ops.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend_shape.h"
#include "backends/linear_observer.h"
#include "core/error.h"
#include "format/weight_matrix.h"
#include "kv/batch.h"
#include "kv/kv_cache.h"

namespace jisu {

// rows of `stride` floats, in the backend's memory.
struct Activations {
  float* data = nullptr;
  size_t stride = 0;

  Activations columns_from(size_t first_column) const { return {data + first_column, stride}; }
};

// What a backend made of one weight matrix; passed back to the same backend's linear().
class LinearWeight {
 public:
  explicit LinearWeight(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~LinearWeight() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  int64_t rows_, cols_;
};

// A mixture-of-experts feed-forward of one layer, as the backend prepared it.
struct PreparedExperts {
  std::unique_ptr<LinearWeight> router;                     // n_expert x n_embd
  std::vector<std::unique_ptr<LinearWeight>> gate, up, down;  // one per expert
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // ---- load time ----
  // Throws jisu::Error with a reason when this backend cannot run the model (e.g. a shape or a
  // feature it lacks), before anything is prepared.
  virtual void check_supported(const TransformerShape& shape, bool has_experts) const = 0;
  // `original_read_later`: the file's rows of this matrix are read again by someone else (the
  // token embedding of a tied output), so a copy may not release them.
  virtual std::unique_ptr<LinearWeight> prepare_linear(const WeightMatrix& matrix, bool original_read_later = false) = 0;
  // A stacked tensor of n_slices equal matrices (MoE experts) prepared once, returned as slices.
  virtual std::vector<std::unique_ptr<LinearWeight>> prepare_linear_slices(const WeightMatrix& stacked,
                                                                           int64_t n_slices) = 0;
  // Matrices that read the same input (q, k, v; gate, up) as one linear weight whose rows are
  // the parts' rows in order, so one linear() writes [part 0 | part 1 | ...] per token and runs
  // as one parallel region. Null where this backend keeps them apart (the default, or parts it
  // cannot stack); the caller then prepares and runs them one by one.
  virtual std::unique_ptr<LinearWeight> prepare_linear_stack(std::span<const WeightMatrix* const> parts) {
    return nullptr;
  }
  // Norm weights and biases, copied where the backend's ops read them; null for an empty span.
  virtual const float* prepare_vector(std::span<const float> values) = 0;
  // The token embedding rows; embed() reads them.
  virtual void prepare_embedding(const WeightMatrix& embedding) = 0;
  // One buffer of rows x cols floats per entry of `columns`, each for up to max_tokens rows.
  virtual std::vector<Activations> plan_buffers(size_t max_tokens, std::span<const size_t> columns) = 0;
  // K/V storage for layers [first_layer, first_layer + n_layers) in the cache's geometry.
  virtual void plan_kv(int32_t first_layer, int32_t n_layers, const KvGeometry& geometry) = 0;
  // Bytes this backend holds for weights (copies it made) and for the K/V storage.
  virtual size_t weight_bytes() const = 0;
  virtual size_t kv_bytes() const = 0;

  // ---- per step (a Batch of tokens from many sequences) ----
  // Stages what every op of the step reads: positions, RoPE angles, K/V rows, block tables and
  // which tokens want logits. The cache's tables already hold the batch's positions.
  // rope_cos_sin: [tokens][rope.dims] (cos, sin) pairs on the host.
  virtual void begin_step(const Batch& batch, const KvCache& cache, const float* rope_cos_sin) = 0;
  // hidden[t] = embedding row of batch token t (times sqrt(n_embd) when the shape says so).
  virtual void embed(Activations hidden) = 0;
  // For each token: hidden += delta (when delta.data); then out = rms_norm(hidden) * weight
  // (when out.data; weight may be null).
  virtual void add_rms_norm(Activations hidden, Activations delta, const float* weight, Activations out) = 0;
  // y[t] = W x[t] for every token of the step (n_rows: how many rows of x; the step's token
  // count unless given).
  virtual void linear(const LinearWeight& weight, Activations x, Activations y, size_t n_rows) = 0;
  // After the QKV projection: bias (q_dim + 2 kv_dim values, may be null), per-head Q/K RMSNorm
  // (may be null), RoPE on Q and K, then K and V stored at the token's cache row for `layer`.
  virtual void qkv_rope_kv_write(int32_t layer, Activations qkv, const float* qkv_bias, const float* q_norm,
                                 const float* k_norm) = 0;
  // Attention of each token's query heads (qkv[t][0, q_dim)) over its sequence's positions of
  // `layer`; out[t] holds q_dim values. Causal (shape.causal): positions [0, position]. Not
  // causal: positions [0, end), where end is one past the sequence's last position in this
  // step, so an input must come whole in one step (an encoder has no later steps).
  virtual void attention(int32_t layer, Activations qkv, Activations out) = 0;
  // gate[t][i] = act(gate[t][i]) * up[t][i], i < n_ff.
  virtual void glu(Activations gate, Activations up, size_t n_rows) = 0;

  // ---- encoder ops (BERT-class models). A backend that lacks them refuses such models in
  // check_supported (shape.causal == false); these defaults are never reached then. ----
  // hidden[t] += table[position of token t] (rows of n_embd: learned position embeddings).
  virtual void add_position_embedding(Activations hidden, const float* table) { refuse("add_position_embedding"); }
  // For each token: hidden += delta (when delta.data); then out = layer_norm(hidden) * weight +
  // bias, with the shape's epsilon (out may be hidden itself).
  virtual void add_layer_norm(Activations hidden, Activations delta, const float* weight, const float* bias,
                              Activations out) {
    refuse("add_layer_norm");
  }
  // x[t][i] += bias[i], i < cols, for the first n_rows tokens.
  virtual void add_bias(Activations x, const float* bias, size_t cols, size_t n_rows) { refuse("add_bias"); }
  // x[t][i] = act(x[t][i]), i < n_ff: the ungated feed-forward's activation.
  virtual void activate(Activations x, size_t n_rows) { refuse("activate"); }
  // hidden[t] += sum over the top experts of normed[t] of weight * expert FFN(normed[t]).
  virtual void mixture_of_experts(const PreparedExperts& experts, Activations normed, Activations hidden) = 0;
  // Packs the rows of the tokens that want logits, rms-normed with `weight`, into out; returns
  // how many.
  virtual size_t norm_wanted_rows(Activations hidden, const float* weight, Activations out) = 0;
  // True when ops may write host memory directly (the model then points the output linear at
  // the caller's logits instead of a buffer and a copy).
  virtual bool writes_host_memory() const = 0;
  // Host copies: logits rows (n_rows x n_vocab) and hidden states (for a layer split).
  virtual void read_logits(Activations logits, size_t n_rows, float* host) = 0;
  virtual void read_rows(Activations from, size_t n_rows, size_t cols, float* host) = 0;
  virtual void write_rows(const float* host, size_t n_rows, size_t cols, Activations to) = 0;

  // ---- collectives (tensor / pipeline parallel) ----
  // Sum of `x` over the ranks that share this layer's shards; a single process has nothing to
  // add. The layer sequence calls it after the attention output and FFN down projections.
  virtual void all_reduce_sum(Activations x, size_t n_rows, size_t cols) {}

  // ---- observing (importance matrix) ----
  // From now on, linear() shows `observer` each weight's input rows (null: stop). A backend whose
  // activations are not in host memory refuses.
  virtual void set_linear_observer(LinearObserver* observer) {
    if (observer) throw Error("the " + name() + " backend cannot show linear inputs; run on the CPU");
  }

 private:
  [[noreturn]] void refuse(const char* op) const {
    throw Error("the " + name() + " backend has no " + op + " op (encoder models)", "use --device cpu");
  }
};

}  // namespace jisu
