#pragma once
// AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's torch.optim.AdamW), the
// demo recipe's learning-rate schedule and global gradient-norm clipping. Element-wise work runs
// over the thread pool; the norm is summed in double in a fixed order (deterministic).
#include <cstddef>
#include <cstdint>

#include "core/thread_pool.h"

namespace jisu::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// One step (step counts from 1):
//   p -= lr * weight_decay * p
//   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   p -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
void adamw_step(ThreadPool* pool, float* params, const float* grads, float* m, float* v, size_t n, int64_t step,
                double lr, const AdamWOptions& options);

struct LearningRateSchedule {
  double peak = 2e-3;
  int64_t warmup = 50;
  int64_t total = 766;
  double floor_fraction = 0.1;
};
// The demo recipe (models/demo-shakespeare/README.md): linear warm-up to the peak over the first
// `warmup` steps (step s gets peak * s / warmup), then peak * (0.1 + 0.9 * (1 + cos(pi f)) / 2)
// with f = s / total the fraction of the run done. step counts from 1.
double learning_rate_at(const LearningRateSchedule& schedule, int64_t step);

// The L2 norm of all gradients; when max_norm > 0 and the norm exceeds it, scales the gradients
// by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
double clip_gradient_norm(ThreadPool* pool, float* grads, size_t n, double max_norm);

}  // namespace jisu::train
