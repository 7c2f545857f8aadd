#include "train/adamw.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "train/train_ops.h"

namespace jisu::train {
namespace {
constexpr size_t kBlock = 16384;
}

void adamw_step(ThreadPool* pool, float* params, const float* grads, float* m, float* v, size_t n, int64_t step,
                double lr, const AdamWOptions& options) {
  const double correction1 = 1.0 - std::pow(options.beta1, double(step));
  const double correction2 = 1.0 - std::pow(options.beta2, double(step));
  const float decay = static_cast<float>(1.0 - lr * options.weight_decay);
  const float b1 = static_cast<float>(options.beta1), b2 = static_cast<float>(options.beta2);
  const float step_size = static_cast<float>(lr / correction1);
  const float inv_sqrt_correction2 = static_cast<float>(1.0 / std::sqrt(correction2));
  const float eps = static_cast<float>(options.eps);
  for_row_blocks(pool, n, kBlock, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const float g = grads[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      params[i] = params[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_correction2 + eps);
    }
  });
}

double learning_rate_at(const LearningRateSchedule& schedule, int64_t step) {
  if (step <= schedule.warmup && schedule.warmup > 0) return schedule.peak * double(step) / double(schedule.warmup);
  const double done = std::min(1.0, double(step) / double(std::max<int64_t>(1, schedule.total)));
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * done));
  return schedule.peak * (schedule.floor_fraction + (1.0 - schedule.floor_fraction) * cosine);
}

double clip_gradient_norm(ThreadPool* pool, float* grads, size_t n, double max_norm) {
  const size_t n_blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(n_blocks, 0.0);
  for_each_task(pool, n_blocks, [&](size_t block) {
    double sum = 0;
    for (size_t i = block * kBlock; i < std::min(n, (block + 1) * kBlock); ++i) sum += double(grads[i]) * grads[i];
    partial[block] = sum;
  });
  double total = 0;
  for (const double sum : partial) total += sum;
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > max_norm && std::isfinite(norm)) {
    const float coefficient = static_cast<float>(max_norm / (norm + 1e-6));
    for_row_blocks(pool, n, kBlock, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) grads[i] *= coefficient;
    });
  }
  return norm;
}

}  // namespace jisu::train
