#include "train/transformer_gradients.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "train/gemm.h"

namespace jisu::train {
namespace {

// y[m, n] = x[m, k] * w[n, k]^T (w as GGUF stores a linear layer: one row per output).
template <class T>
void linear_forward(ThreadPool* pool, const T* x, const T* w, T* y, size_t m, size_t k, size_t n, T* scratch) {
  transpose(pool, w, scratch, n, k);  // scratch = w^T [k, n]
  gemm(pool, x, scratch, y, m, k, n, false);
}

// dx (+)= dy * w; dw += dy^T * x. dy^T is materialised: the product reads its rows
// contiguously (reading dy column-wise in place measured slower: a cache line per k for 4 values).
template <class T>
void linear_backward(ThreadPool* pool, const T* dy, const T* x, const T* w, T* dx, bool dx_accumulate, T* dw,
                     size_t m, size_t k, size_t n, T* scratch) {
  gemm(pool, dy, w, dx, m, n, k, dx_accumulate);
  transpose(pool, dy, scratch, m, n);  // scratch = dy^T [n, m]
  gemm(pool, scratch, x, dw, n, m, k, true);
}

using Linear = ParameterLayout::Linear;

// A layer's linear, dense or a low-rank pair W = A B: y = (x B^T) A^T, the inner product
// hidden = x B^T [m, rank] kept for the backward pass.
template <class T>
void linear_forward(ThreadPool* pool, const T* params, const Linear& w, const T* x, T* y, std::vector<T>& hidden,
                    size_t m, size_t k, size_t n, T* scratch) {
  if (w.rank == 0) return linear_forward(pool, x, params + w.a, y, m, k, n, scratch);
  linear_forward(pool, x, params + w.b, hidden.data(), m, k, w.rank, scratch);
  linear_forward(pool, hidden.data(), params + w.a, y, m, w.rank, n, scratch);
}

// The pair's backward: d hidden = dy A, dA += dy^T hidden; dx (+)= d hidden B, dB += d hidden^T x.
template <class T>
void linear_backward(ThreadPool* pool, const T* params, T* grads, const Linear& w, const T* dy, const T* x,
                     const std::vector<T>& hidden, std::vector<T>& dhidden, T* dx, bool dx_accumulate, size_t m,
                     size_t k, size_t n, T* scratch) {
  if (w.rank == 0) return linear_backward(pool, dy, x, params + w.a, dx, dx_accumulate, grads + w.a, m, k, n, scratch);
  linear_backward(pool, dy, hidden.data(), params + w.a, dhidden.data(), false, grads + w.a, m, w.rank, n, scratch);
  linear_backward(pool, dhidden.data(), x, params + w.b, dx, dx_accumulate, grads + w.b, m, k, w.rank, scratch);
}

}  // namespace

template <class T>
struct TransformerGradients<T>::Activations {
  struct Layer {
    std::vector<T> x_in, n1, inv1, q, k, v, probs, o, x_mid, n2, inv2, gate, up, a;
    // The inner products of the low-rank pairs (empty for a dense linear).
    std::vector<T> h_q, h_k, h_v, h_o, h_gate, h_up, h_down;
  };
  std::vector<Layer> layers;
  std::vector<T> x_final, nf, invf, logits, dlogits;
  // Backward buffers, and the transposed weight of the forward's products.
  std::vector<T> dx, dn, dq, dk, dv, dattn, da, dgate, dup, dhidden, scratch;
};

template <class T>
TransformerGradients<T>::TransformerGradients(const TrainShape& shape, size_t n_seq, size_t seq_len, ThreadPool* pool)
    : shape_(shape), layout_(shape), n_seq_(n_seq), seq_len_(seq_len), pool_(pool), act_(new Activations) {
  if (n_seq == 0 || seq_len == 0) throw Error("a training batch needs at least one sequence of one token");
  const size_t M = n_tokens(), d = size_t(shape.dim), hd = size_t(shape.head_dim());
  const size_t kv = hd * size_t(shape.n_head_kv), ff = size_t(shape.n_ff), vocab = size_t(shape.n_vocab);
  const size_t qd = size_t(shape.q_width());  // == d unless the heads were pruned
  // Bounded memory: refuse a batch whose saved activations would not fit a machine, before
  // allocating any of them.
  const size_t pair_values = shape.low_rank.empty() ? 0 : 7 * std::max({d, qd, ff});  // hidden, rank <= min side
  const double per_token_values = double(shape.n_layer) * double(7 * d + 2 * qd + 2 * kv + 3 * ff + 2 + pair_values) +
                                  double(3 * d + 2 * vocab) + double(3 * d + 2 * qd + 2 * kv + 3 * ff);
  const double values = double(M) * per_token_values +
                        double(shape.n_layer) * double(n_seq) * double(shape.n_head) * double(seq_len) * double(seq_len);
  constexpr double kMaxBytes = 64.0 * (1ull << 30);
  if (values * sizeof(T) > kMaxBytes)
    throw Error("a batch of " + std::to_string(n_seq) + " x " + std::to_string(seq_len) + " tokens needs " +
                    std::to_string(int64_t(values * sizeof(T) / double(1ull << 30))) +
                    " GiB of activations, over the 64 GiB limit",
                "use a smaller --batch or --ctx (and --grad-accum for a large effective batch)");
  rope_table_ = rope_angles<T>(seq_len, hd, shape.rope_base);
  tokens_.resize(M);
  act_->layers.resize(size_t(shape.n_layer));
  size_t max_rank = 0;
  for (size_t l = 0; l < act_->layers.size(); ++l) {
    auto& layer = act_->layers[l];
    const auto& W = layout_.layers()[l];
    for (const auto& [linear, hidden] :
         {std::pair{&W.wq, &layer.h_q}, {&W.wk, &layer.h_k}, {&W.wv, &layer.h_v}, {&W.wo, &layer.h_o},
          {&W.w_gate, &layer.h_gate}, {&W.w_up, &layer.h_up}, {&W.w_down, &layer.h_down}}) {
      hidden->resize(M * linear->rank);
      max_rank = std::max(max_rank, linear->rank);
    }
    layer.x_in.resize(M * d);
    layer.n1.resize(M * d);
    layer.inv1.resize(M);
    layer.q.resize(M * qd);
    layer.k.resize(M * kv);
    layer.v.resize(M * kv);
    layer.probs.resize(n_seq * size_t(shape.n_head) * seq_len * seq_len);
    layer.o.resize(M * qd);
    layer.x_mid.resize(M * d);
    layer.n2.resize(M * d);
    layer.inv2.resize(M);
    layer.gate.resize(M * ff);
    layer.up.resize(M * ff);
    layer.a.resize(M * ff);
  }
  act_->x_final.resize(M * d);
  act_->nf.resize(M * d);
  act_->invf.resize(M);
  act_->logits.resize(M * vocab);
  act_->dlogits.resize(M * vocab);
  act_->dx.resize(M * d);
  act_->dn.resize(M * d);
  act_->dq.resize(M * qd);
  act_->dk.resize(M * kv);
  act_->dv.resize(M * kv);
  act_->dattn.resize(M * qd);
  act_->da.resize(M * ff);
  act_->dgate.resize(M * ff);
  act_->dup.resize(M * ff);
  act_->dhidden.resize(M * max_rank);
  act_->scratch.resize(std::max({vocab * d, ff * d, qd * d, M * vocab, M * ff, M * d, M * qd}));  // a transposed weight or dy
}

template <class T>
TransformerGradients<T>::~TransformerGradients() = default;

template <class T>
const T* TransformerGradients<T>::logits() const {
  return act_->logits.data();
}

template <class T>
const T* TransformerGradients<T>::embedding_output_gradient() const {
  return act_->dx.data();  // backward() ends with d loss / d x_in of layer 0 here; scattering reads it
}

template <class T>
T* TransformerGradients<T>::logits_gradient() {
  return act_->dlogits.data();
}

template <class T>
void TransformerGradients<T>::forward(const T* params, const int32_t* tokens) {
  const size_t M = n_tokens(), d = size_t(shape_.dim), hd = size_t(shape_.head_dim());
  const size_t kv = hd * size_t(shape_.n_head_kv), ff = size_t(shape_.n_ff), vocab = size_t(shape_.n_vocab);
  const size_t qd = size_t(shape_.q_width());
  const double eps = shape_.rms_eps;
  const AttentionShape attention{n_seq_, seq_len_, size_t(shape_.n_head), size_t(shape_.n_head_kv), hd};
  T* scratch = act_->scratch.data();
  for (size_t t = 0; t < M; ++t) {
    if (tokens[t] < 0 || tokens[t] >= shape_.n_vocab)
      throw Error("token id " + std::to_string(tokens[t]) + " is outside the vocabulary of " +
                  std::to_string(shape_.n_vocab));
    tokens_[t] = tokens[t];
  }
  std::vector<T>& x0 = act_->layers.empty() ? act_->x_final : act_->layers[0].x_in;
  for (size_t t = 0; t < M; ++t)
    std::memcpy(x0.data() + t * d, params + layout_.token_embd() + size_t(tokens_[t]) * d, d * sizeof(T));

  for (size_t l = 0; l < act_->layers.size(); ++l) {
    auto& L = act_->layers[l];
    const auto& W = layout_.layers()[l];
    rms_norm_forward(pool_, L.x_in.data(), params + W.attn_norm, L.n1.data(), L.inv1.data(), M, d, eps);
    linear_forward(pool_, params, W.wq, L.n1.data(), L.q.data(), L.h_q, M, d, qd, scratch);
    linear_forward(pool_, params, W.wk, L.n1.data(), L.k.data(), L.h_k, M, d, kv, scratch);
    linear_forward(pool_, params, W.wv, L.n1.data(), L.v.data(), L.h_v, M, d, kv, scratch);
    rope_apply(pool_, L.q.data(), rope_table_.data(), M, seq_len_, size_t(shape_.n_head), hd, shape_.rope_neox, T(1));
    rope_apply(pool_, L.k.data(), rope_table_.data(), M, seq_len_, size_t(shape_.n_head_kv), hd, shape_.rope_neox,
               T(1));
    attention_forward(pool_, attention, L.q.data(), L.k.data(), L.v.data(), L.probs.data(), L.o.data());
    linear_forward(pool_, params, W.wo, L.o.data(), L.x_mid.data(), L.h_o, M, qd, d, scratch);
    for (size_t i = 0; i < M * d; ++i) L.x_mid[i] += L.x_in[i];
    rms_norm_forward(pool_, L.x_mid.data(), params + W.ffn_norm, L.n2.data(), L.inv2.data(), M, d, eps);
    linear_forward(pool_, params, W.w_gate, L.n2.data(), L.gate.data(), L.h_gate, M, d, ff, scratch);
    linear_forward(pool_, params, W.w_up, L.n2.data(), L.up.data(), L.h_up, M, d, ff, scratch);
    swiglu_forward(pool_, L.gate.data(), L.up.data(), L.a.data(), M * ff);
    std::vector<T>& next = l + 1 < act_->layers.size() ? act_->layers[l + 1].x_in : act_->x_final;
    linear_forward(pool_, params, W.w_down, L.a.data(), next.data(), L.h_down, M, ff, d, scratch);
    for (size_t i = 0; i < M * d; ++i) next[i] += L.x_mid[i];
  }
  rms_norm_forward(pool_, act_->x_final.data(), params + layout_.output_norm(), act_->nf.data(), act_->invf.data(), M,
                   d, eps);
  linear_forward(pool_, act_->nf.data(), params + layout_.output(), act_->logits.data(), M, d, vocab, scratch);
}

template <class T>
void TransformerGradients<T>::backward(const T* params, T* grads) {
  const size_t M = n_tokens(), d = size_t(shape_.dim), hd = size_t(shape_.head_dim());
  const size_t kv = hd * size_t(shape_.n_head_kv), ff = size_t(shape_.n_ff), vocab = size_t(shape_.n_vocab);
  const size_t qd = size_t(shape_.q_width());
  const AttentionShape attention{n_seq_, seq_len_, size_t(shape_.n_head), size_t(shape_.n_head_kv), hd};
  Activations& A = *act_;
  T* scratch = A.scratch.data();

  // Output layer and final norm: dx = d loss / d x_final.
  linear_backward(pool_, A.dlogits.data(), A.nf.data(), params + layout_.output(), A.dn.data(), false,
                  grads + layout_.output(), M, d, vocab, scratch);
  std::fill(A.dx.begin(), A.dx.end(), T(0));
  rms_norm_backward(pool_, A.dn.data(), A.x_final.data(), params + layout_.output_norm(), A.invf.data(), A.dx.data(),
                    grads + layout_.output_norm(), M, d);

  for (size_t l = A.layers.size(); l-- > 0;) {
    auto& L = A.layers[l];
    const auto& W = layout_.layers()[l];
    // Feed-forward branch: dx holds d loss / d (layer output) = d/d x_mid through the residual.
    linear_backward(pool_, params, grads, W.w_down, A.dx.data(), L.a.data(), L.h_down, A.dhidden, A.da.data(), false, M, ff,
                    d, scratch);
    swiglu_backward(pool_, L.gate.data(), L.up.data(), A.da.data(), A.dgate.data(), A.dup.data(), M * ff);
    linear_backward(pool_, params, grads, W.w_gate, A.dgate.data(), L.n2.data(), L.h_gate, A.dhidden, A.dn.data(), false,
                    M, d, ff, scratch);
    linear_backward(pool_, params, grads, W.w_up, A.dup.data(), L.n2.data(), L.h_up, A.dhidden, A.dn.data(), true, M, d, ff,
                    scratch);
    rms_norm_backward(pool_, A.dn.data(), L.x_mid.data(), params + W.ffn_norm, L.inv2.data(), A.dx.data(),
                      grads + W.ffn_norm, M, d);
    // Attention branch: dx now holds d/d x_mid = d/d x_in through the residual.
    linear_backward(pool_, params, grads, W.wo, A.dx.data(), L.o.data(), L.h_o, A.dhidden, A.dattn.data(), false, M, qd, d,
                    scratch);
    attention_backward(pool_, attention, L.q.data(), L.k.data(), L.v.data(), L.probs.data(), L.o.data(),
                       A.dattn.data(), A.dq.data(), A.dk.data(), A.dv.data());
    rope_apply(pool_, A.dq.data(), rope_table_.data(), M, seq_len_, size_t(shape_.n_head), hd, shape_.rope_neox, T(-1));
    rope_apply(pool_, A.dk.data(), rope_table_.data(), M, seq_len_, size_t(shape_.n_head_kv), hd, shape_.rope_neox,
               T(-1));
    linear_backward(pool_, params, grads, W.wq, A.dq.data(), L.n1.data(), L.h_q, A.dhidden, A.dn.data(), false, M, d, qd,
                    scratch);
    linear_backward(pool_, params, grads, W.wk, A.dk.data(), L.n1.data(), L.h_k, A.dhidden, A.dn.data(), true, M, d, kv,
                    scratch);
    linear_backward(pool_, params, grads, W.wv, A.dv.data(), L.n1.data(), L.h_v, A.dhidden, A.dn.data(), true, M, d, kv,
                    scratch);
    rms_norm_backward(pool_, A.dn.data(), L.x_in.data(), params + W.attn_norm, L.inv1.data(), A.dx.data(),
                      grads + W.attn_norm, M, d);
  }
  // Embedding rows: added in token order (deterministic).
  T* d_embd = grads + layout_.token_embd();
  for (size_t t = 0; t < M; ++t) {
    T* row = d_embd + size_t(tokens_[t]) * d;
    const T* dx = A.dx.data() + t * d;
    for (size_t i = 0; i < d; ++i) row[i] += dx[i];
  }
}

template class TransformerGradients<float>;
template class TransformerGradients<double>;

}  // namespace jisu::train
