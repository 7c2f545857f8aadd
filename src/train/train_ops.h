#pragma once
// Forward and backward of each op of the llama layer sequence, written once for float
// (training) and double (the finite-difference tests). Activations are row-major
// [tokens, features]; token t of a batch of sequences of length S is sequence t / S at
// position t % S.
//
// Backward functions ADD their input gradients into the given buffers (a residual stream
// receives gradient from two branches), except where noted. Every reduction runs in a fixed
// order inside one task, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "train/vector_kernels.h"

namespace jisu::train {

template <class Task>
void for_each_task(ThreadPool* pool, size_t n_tasks, Task&& task) {
  if (pool && n_tasks > 1)
    pool->parallel_for(n_tasks, [&](size_t index, size_t) { task(index); });
  else
    for (size_t index = 0; index < n_tasks; ++index) task(index);
}

// Rows in tasks of `rows_per_task`: task(begin, end).
template <class Task>
void for_row_blocks(ThreadPool* pool, size_t rows, size_t rows_per_task, Task&& task) {
  const size_t n_tasks = (rows + rows_per_task - 1) / rows_per_task;
  for_each_task(pool, n_tasks, [&](size_t index) {
    task(index * rows_per_task, std::min(rows, (index + 1) * rows_per_task));
  });
}

// ---- RMSNorm: y = x * w / sqrt(mean(x^2) + eps); inv_rms[row] saved for backward.
template <class T>
void rms_norm_forward(ThreadPool* pool, const T* x, const T* w, T* y, T* inv_rms, size_t rows, size_t dim,
                      double eps) {
  for_row_blocks(pool, rows, 64, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const T* xr = x + r * dim;
      double sum = 0;
      for (size_t i = 0; i < dim; ++i) sum += double(xr[i]) * double(xr[i]);
      const T inv = static_cast<T>(1.0 / std::sqrt(sum / double(dim) + eps));
      inv_rms[r] = inv;
      for (size_t i = 0; i < dim; ++i) y[r * dim + i] = xr[i] * inv * w[i];
    }
  });
}

// dx += d/dx, dw += d/dw.  d/dx_j = r w_j dy_j - x_j r^3 / dim * sum_i(dy_i w_i x_i).
template <class T>
void rms_norm_backward(ThreadPool* pool, const T* dy, const T* x, const T* w, const T* inv_rms, T* dx, T* dw,
                       size_t rows, size_t dim) {
  for_row_blocks(pool, rows, 64, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const T* xr = x + r * dim;
      const T* dyr = dy + r * dim;
      double weighted = 0;
      for (size_t i = 0; i < dim; ++i) weighted += double(dyr[i]) * double(w[i]) * double(xr[i]);
      const T inv = inv_rms[r];
      const T correction = static_cast<T>(weighted * double(inv) * double(inv) * double(inv) / double(dim));
      for (size_t i = 0; i < dim; ++i) dx[r * dim + i] += inv * w[i] * dyr[i] - xr[i] * correction;
    }
  });
  // dw: one task per block of columns, each summing its columns over all rows in order.
  constexpr size_t kCols = 64;
  for_row_blocks(pool, dim, kCols, [&](size_t begin, size_t end) {
    for (size_t r = 0; r < rows; ++r) {
      const T inv = inv_rms[r];
      for (size_t i = begin; i < end; ++i) dw[i] += dy[r * dim + i] * x[r * dim + i] * inv;
    }
  });
}

// ---- RoPE over [tokens, n_heads, head_dim], in place. cos_sin[position][2 * pair] = (cos, sin)
// of the pair's angle. Interleaved rotates (x[2i], x[2i+1]); NeoX rotates (x[i], x[i + d/2]).
// The backward is the rotation by the opposite angle (sign = -1).
template <class T>
void rope_apply(ThreadPool* pool, T* x, const T* cos_sin, size_t tokens, size_t seq_len, size_t n_heads,
                size_t head_dim, bool neox, T sign) {
  const size_t half = head_dim / 2;
  for_row_blocks(pool, tokens, 64, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      const T* angles = cos_sin + (t % seq_len) * head_dim;
      for (size_t h = 0; h < n_heads; ++h) {
        T* head = x + (t * n_heads + h) * head_dim;
        for (size_t i = 0; i < half; ++i) {
          const T c = angles[2 * i], s = sign * angles[2 * i + 1];
          const size_t ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
          const T a = head[ia], b = head[ib];
          head[ia] = a * c - b * s;
          head[ib] = a * s + b * c;
        }
      }
    }
  });
}

// cos/sin of position * base^(-2i/head_dim), computed in double.
template <class T>
std::vector<T> rope_angles(size_t seq_len, size_t head_dim, double base) {
  std::vector<T> table(seq_len * head_dim);
  for (size_t p = 0; p < seq_len; ++p)
    for (size_t i = 0; i < head_dim / 2; ++i) {
      const double theta = double(p) * std::pow(base, -2.0 * double(i) / double(head_dim));
      table[p * head_dim + 2 * i] = static_cast<T>(std::cos(theta));
      table[p * head_dim + 2 * i + 1] = static_cast<T>(std::sin(theta));
    }
  return table;
}

// ---- Causal attention with grouped KV heads, per sequence. q, out: [tokens, n_head * hd];
// k, v: [tokens, n_kv * hd]; probs: [n_seq, n_head, S, S] (row i holds positions 0..i).
struct AttentionShape {
  size_t n_seq, seq_len, n_head, n_kv, head_dim;
  size_t q_width() const { return n_head * head_dim; }
  size_t kv_width() const { return n_kv * head_dim; }
};

template <class T>
void attention_forward(ThreadPool* pool, const AttentionShape& s, const T* q, const T* k, const T* v, T* probs,
                       T* out) {
  const size_t S = s.seq_len, hd = s.head_dim, group = s.n_head / s.n_kv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(hd)));
  for_each_task(pool, s.n_seq * s.n_head, [&](size_t task) {
    const size_t b = task / s.n_head, h = task % s.n_head, g = h / group;
    for (size_t i = 0; i < S; ++i) {
      const T* qi = q + (b * S + i) * s.q_width() + h * hd;
      T* p = probs + ((b * s.n_head + h) * S + i) * S;
      T max_score = -INFINITY;
      for (size_t j = 0; j <= i; ++j) {
        p[j] = dot(qi, k + (b * S + j) * s.kv_width() + g * hd, hd) * scale;
        max_score = std::max(max_score, p[j]);
      }
      T sum = 0;
      for (size_t j = 0; j <= i; ++j) {
        p[j] = std::exp(p[j] - max_score);
        sum += p[j];
      }
      const T inv_sum = T(1) / sum;
      for (size_t j = 0; j <= i; ++j) p[j] *= inv_sum;
      for (size_t j = i + 1; j < S; ++j) p[j] = 0;
      T* oi = out + (b * S + i) * s.q_width() + h * hd;
      std::fill(oi, oi + hd, T(0));
      for (size_t j = 0; j <= i; ++j) axpy(p[j], v + (b * S + j) * s.kv_width() + g * hd, oi, hd);
    }
  });
}

// dq, dk, dv are OVERWRITTEN. One task per (sequence, KV head) so the query heads sharing a
// KV head add into dk/dv in a fixed order. scratch: S floats per thread-independent task.
template <class T>
void attention_backward(ThreadPool* pool, const AttentionShape& s, const T* q, const T* k, const T* v,
                        const T* probs, const T* out, const T* dout, T* dq, T* dk, T* dv) {
  const size_t S = s.seq_len, hd = s.head_dim, group = s.n_head / s.n_kv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(hd)));
  for_each_task(pool, s.n_seq * s.n_kv, [&](size_t task) {
    const size_t b = task / s.n_kv, g = task % s.n_kv;
    std::vector<T> dscore(S);
    for (size_t i = 0; i < S; ++i) {
      std::fill(dk + (b * S + i) * s.kv_width() + g * hd, dk + (b * S + i) * s.kv_width() + (g + 1) * hd, T(0));
      std::fill(dv + (b * S + i) * s.kv_width() + g * hd, dv + (b * S + i) * s.kv_width() + (g + 1) * hd, T(0));
    }
    for (size_t h = g * group; h < (g + 1) * group; ++h) {
      for (size_t i = 0; i < S; ++i) {
        const size_t qi_at = (b * S + i) * s.q_width() + h * hd;
        const T* p = probs + ((b * s.n_head + h) * S + i) * S;
        const T* doi = dout + qi_at;
        // sum_j P_ij dP_ij = dO_i . O_i
        const T row_dot = dot(doi, out + qi_at, hd);
        for (size_t j = 0; j <= i; ++j) {
          const T dp = dot(doi, v + (b * S + j) * s.kv_width() + g * hd, hd);
          dscore[j] = p[j] * (dp - row_dot) * scale;
        }
        T* dqi = dq + qi_at;
        std::fill(dqi, dqi + hd, T(0));
        const T* qi = q + qi_at;
        for (size_t j = 0; j <= i; ++j) {
          const size_t kv_at = (b * S + j) * s.kv_width() + g * hd;
          axpy(dscore[j], k + kv_at, dqi, hd);
          axpy(dscore[j], qi, dk + kv_at, hd);
          axpy(p[j], doi, dv + kv_at, hd);
        }
      }
    }
  });
}

// ---- SwiGLU: a = silu(g) * u.
template <class T>
void swiglu_forward(ThreadPool* pool, const T* gate, const T* up, T* a, size_t n) {
  for_row_blocks(pool, n, 16384, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) a[i] = gate[i] / (T(1) + std::exp(-gate[i])) * up[i];
  });
}

// dgate, dup OVERWRITTEN.
template <class T>
void swiglu_backward(ThreadPool* pool, const T* gate, const T* up, const T* da, T* dgate, T* dup, size_t n) {
  for_row_blocks(pool, n, 16384, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const T sigmoid = T(1) / (T(1) + std::exp(-gate[i]));
      const T silu = gate[i] * sigmoid;
      dup[i] = da[i] * silu;
      dgate[i] = da[i] * up[i] * sigmoid * (T(1) + gate[i] * (T(1) - sigmoid));
    }
  });
}

// ---- Losses over logits [rows, vocab]. Each returns the SUM over rows of the row losses
// (in double, summed in row order) and writes dlogits = scale * d(row loss)/d(logits).

// Cross-entropy against target ids; a target < 0 is not scored (zero gradient).
template <class T>
double cross_entropy(ThreadPool* pool, const T* logits, const int32_t* targets, T* dlogits, size_t rows,
                     size_t vocab, double scale) {
  std::vector<double> row_loss(rows, 0.0);
  for_row_blocks(pool, rows, 16, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const T* z = logits + r * vocab;
      T* dz = dlogits ? dlogits + r * vocab : nullptr;
      if (targets[r] < 0) {
        if (dz) std::fill(dz, dz + vocab, T(0));
        continue;
      }
      double max_logit = z[0];
      for (size_t i = 1; i < vocab; ++i) max_logit = std::max(max_logit, double(z[i]));
      double sum = 0;
      for (size_t i = 0; i < vocab; ++i) sum += std::exp(double(z[i]) - max_logit);
      const double log_sum = std::log(sum) + max_logit;
      row_loss[r] = log_sum - double(z[targets[r]]);
      if (dz) {
        for (size_t i = 0; i < vocab; ++i) dz[i] = static_cast<T>(std::exp(double(z[i]) - log_sum) * scale);
        dz[targets[r]] -= static_cast<T>(scale);
      }
    }
  });
  double total = 0;
  for (const double loss : row_loss) total += loss;
  return total;
}

// out[i] = log softmax(z / divisor)[i], in double.
template <class V>
void log_softmax_row(const V* z, size_t vocab, double divisor, double* out) {
  double max_value = double(z[0]) / divisor;
  for (size_t i = 1; i < vocab; ++i) max_value = std::max(max_value, double(z[i]) / divisor);
  double sum = 0;
  for (size_t i = 0; i < vocab; ++i) sum += std::exp(double(z[i]) / divisor - max_value);
  const double log_sum = std::log(sum) + max_value;
  for (size_t i = 0; i < vocab; ++i) out[i] = double(z[i]) / divisor - log_sum;
}

// Knowledge distillation (Hinton et al.): row loss = alpha * CE(target) + (1 - alpha) * T^2 *
// KL(softmax(t / T) || softmax(s / T)); its gradient is alpha * (p_s - onehot) + (1 - alpha) *
// T * (q_s - q_t). teacher: [rows, vocab] float logits from the inference engine.
template <class T>
double distillation_loss(ThreadPool* pool, const T* logits, const float* teacher, const int32_t* targets,
                         T* dlogits, size_t rows, size_t vocab, double temperature, double alpha, double scale) {
  std::vector<double> row_loss(rows, 0.0);
  for_row_blocks(pool, rows, 16, [&](size_t begin, size_t end) {
    std::vector<double> soft_student(vocab), soft_teacher(vocab), hard_student(vocab);
    for (size_t r = begin; r < end; ++r) {
      const T* z = logits + r * vocab;
      T* dz = dlogits ? dlogits + r * vocab : nullptr;
      log_softmax_row(teacher + r * vocab, vocab, temperature, soft_teacher.data());
      log_softmax_row(z, vocab, temperature, soft_student.data());
      log_softmax_row(z, vocab, 1.0, hard_student.data());
      double kl = 0;
      for (size_t i = 0; i < vocab; ++i) kl += std::exp(soft_teacher[i]) * (soft_teacher[i] - soft_student[i]);
      const bool scored = targets[r] >= 0;
      const double hard = scored ? -hard_student[size_t(targets[r])] : 0.0;
      const double hard_weight = scored ? alpha : 0.0;
      if (dz)
        for (size_t i = 0; i < vocab; ++i) {
          const double hard_gradient = std::exp(hard_student[i]) - (scored && i == size_t(targets[r]) ? 1.0 : 0.0);
          const double soft_gradient = temperature * (std::exp(soft_student[i]) - std::exp(soft_teacher[i]));
          dz[i] = static_cast<T>(scale * (hard_weight * hard_gradient + (1 - alpha) * soft_gradient));
        }
      row_loss[r] = hard_weight * hard + (1 - alpha) * temperature * temperature * kl;
    }
  });
  double total = 0;
  for (const double loss : row_loss) total += loss;
  return total;
}

// The teacher's top-k at temperature T of each row (the cache of `jisu distill --teacher-cache`):
// ids[r * k + j] and log_probs[r * k + j] = log softmax(teacher_r / T)[id], by falling
// probability (ties: the lower id first, so the selection is deterministic).
inline void teacher_top_k(ThreadPool* pool, const float* teacher, size_t rows, size_t vocab, size_t k,
                          double temperature, int32_t* ids, float* log_probs) {
  for_row_blocks(pool, rows, 16, [&](size_t begin, size_t end) {
    std::vector<double> log_q(vocab);
    std::vector<int32_t> order(vocab);
    for (size_t r = begin; r < end; ++r) {
      log_softmax_row(teacher + r * vocab, vocab, temperature, log_q.data());
      for (size_t i = 0; i < vocab; ++i) order[i] = int32_t(i);
      std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(k), order.end(), [&](int32_t a, int32_t b) {
        return log_q[size_t(a)] > log_q[size_t(b)] || (log_q[size_t(a)] == log_q[size_t(b)] && a < b);
      });
      for (size_t j = 0; j < k; ++j) {
        ids[r * k + j] = order[j];
        log_probs[r * k + j] = static_cast<float>(log_q[size_t(order[j])]);
      }
    }
  });
}

// distillation_loss with the teacher known only by its top-k log-probabilities at T (ids,
// log_probs as teacher_top_k writes them). The KL runs over the k tokens plus one tail bucket:
// the teacher's tail mass q_t,R = 1 - sum_top q_t against the student's q_s,R = sum over the
// other tokens of q_s:
//   KL ~ sum_top q_t,i log(q_t,i / q_s,i) + q_t,R log(q_t,R / q_s,R).
// Its gradient in z is T (q_s - q~_t), where q~_t is q_t on the top-k and spreads the tail mass
// over the other tokens in the student's own proportions (q_t,R q_s,j / q_s,R). With k = vocab
// there is no tail and this is distillation_loss exactly (up to the float log-probabilities).
template <class T>
double distillation_loss_top_k(ThreadPool* pool, const T* logits, const int32_t* ids, const float* log_probs,
                               size_t k, const int32_t* targets, T* dlogits, size_t rows, size_t vocab,
                               double temperature, double alpha, double scale) {
  std::vector<double> row_loss(rows, 0.0);
  for_row_blocks(pool, rows, 16, [&](size_t begin, size_t end) {
    std::vector<double> log_q_student(vocab), log_p_student(vocab), teacher_q(vocab);
    std::vector<char> in_top(vocab);
    for (size_t r = begin; r < end; ++r) {
      const T* z = logits + r * vocab;
      T* dz = dlogits ? dlogits + r * vocab : nullptr;
      log_softmax_row(z, vocab, temperature, log_q_student.data());
      log_softmax_row(z, vocab, 1.0, log_p_student.data());
      std::fill(in_top.begin(), in_top.end(), char(0));
      double kl = 0, top_mass = 0;
      for (size_t j = 0; j < k; ++j) {
        const auto id = size_t(ids[r * k + j]);
        const double log_q_teacher = log_probs[r * k + j];
        in_top[id] = 1;
        teacher_q[id] = std::exp(log_q_teacher);
        top_mass += teacher_q[id];
        kl += teacher_q[id] * (log_q_teacher - log_q_student[id]);
      }
      // The tail bucket (empty when k == vocab).
      const double tail_teacher = k < vocab ? std::max(0.0, 1.0 - top_mass) : 0.0;
      double log_tail_student = -INFINITY;
      if (tail_teacher > 0) {
        double max_value = -INFINITY;
        for (size_t i = 0; i < vocab; ++i)
          if (!in_top[i]) max_value = std::max(max_value, log_q_student[i]);
        double sum = 0;
        for (size_t i = 0; i < vocab; ++i)
          if (!in_top[i]) sum += std::exp(log_q_student[i] - max_value);
        log_tail_student = std::log(sum) + max_value;
        kl += tail_teacher * (std::log(tail_teacher) - log_tail_student);
      }
      const bool scored = targets[r] >= 0;
      const double hard_weight = scored ? alpha : 0.0;
      if (dz)
        for (size_t i = 0; i < vocab; ++i) {
          const double hard_gradient = std::exp(log_p_student[i]) - (scored && i == size_t(targets[r]) ? 1.0 : 0.0);
          const double completed_teacher =
              in_top[i] ? teacher_q[i]
                        : (tail_teacher > 0 ? tail_teacher * std::exp(log_q_student[i] - log_tail_student) : 0.0);
          const double soft_gradient = temperature * (std::exp(log_q_student[i]) - completed_teacher);
          dz[i] = static_cast<T>(scale * (hard_weight * hard_gradient + (1 - alpha) * soft_gradient));
        }
      row_loss[r] = (scored ? alpha * -log_p_student[size_t(targets[r])] : 0.0) +
                    (1 - alpha) * temperature * temperature * kl;
    }
  });
  double total = 0;
  for (const double loss : row_loss) total += loss;
  return total;
}

}  // namespace jisu::train
