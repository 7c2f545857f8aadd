#include "backends/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"

namespace jisu::cpu {

void rms_norm(const float* x, const float* weight, float eps, float* out, size_t n) {
  // Accumulate in double: the mean of squares over thousands of values is where f32 loses
  // the most, and this runs once per token per norm.
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / double(n) + double(eps)));
  if (weight)
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
  else
    for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale;
}

void layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, size_t n) {
  // Two passes in double (mean, then the variance around it): no cancellation of E[x^2] - E[x]^2.
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / double(n);
  double squares = 0;
  for (size_t i = 0; i < n; ++i) squares += (x[i] - mean) * (x[i] - mean);
  const double inverse_std = 1.0 / std::sqrt(squares / double(n) + double(eps));
  for (size_t i = 0; i < n; ++i) {
    float value = static_cast<float>((x[i] - mean) * inverse_std);
    if (weight) value *= weight[i];
    if (bias) value += bias[i];
    out[i] = value;
  }
}

void rope_interleaved(float* head, const float* cos_sin, size_t rotated_dims) {
  for (size_t i = 0; i < rotated_dims / 2; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = head[2 * i], b = head[2 * i + 1];
    head[2 * i] = a * c - b * s;
    head[2 * i + 1] = a * s + b * c;
  }
}

void rope_neox(float* head, const float* cos_sin, size_t rotated_dims) {
  const size_t half = rotated_dims / 2;
  for (size_t i = 0; i < half; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = head[i], b = head[i + half];
    head[i] = a * c - b * s;
    head[i + half] = a * s + b * c;
  }
}

namespace {

float silu(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  // 1 + tanh(z) = 2 / (1 + exp(-2z)): no cancellation where tanh(z) is near -1.
  const float z = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return 0.5f * x * (2.0f / (1.0f + std::exp(-2.0f * z)));
}

// erfc rather than 1 + erf: no cancellation in the negative tail.
float gelu_erf(float x) { return 0.5f * x * std::erfc(x * -0.7071067811865476f); }

}  // namespace

void silu_multiply_scalar(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) gate[i] = silu(gate[i]) * up[i];
}

void gelu_tanh_multiply_scalar(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) gate[i] = gelu_tanh(gate[i]) * up[i];
}

void gelu_erf_multiply_scalar(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) gate[i] = gelu_erf(gate[i]) * up[i];
}

void gelu_erf_in_place_scalar(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = gelu_erf(x[i]);
}

void gelu_erf_multiply(float* gate, const float* up, size_t n) {
  active_isa() == Isa::Scalar ? gelu_erf_multiply_scalar(gate, up, n) : gelu_erf_multiply_avx2(gate, up, n);
}

void gelu_erf_in_place(float* x, size_t n) {
  active_isa() == Isa::Scalar ? gelu_erf_in_place_scalar(x, n) : gelu_erf_in_place_avx2(x, n);
}

void gelu_tanh_in_place(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
}

void silu_in_place(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = silu(x[i]);
}

void silu_multiply(float* gate, const float* up, size_t n) {
  active_isa() == Isa::Scalar ? silu_multiply_scalar(gate, up, n) : silu_multiply_avx2(gate, up, n);
}

void gelu_tanh_multiply(float* gate, const float* up, size_t n) {
  active_isa() == Isa::Scalar ? gelu_tanh_multiply_scalar(gate, up, n) : gelu_tanh_multiply_avx2(gate, up, n);
}

void add_in_place(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void add_scaled_in_place(float* x, const float* y, float scale, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += scale * y[i];
}

void scale_in_place(float* x, float scale, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= scale;
}

void softmax(float* x, size_t n) {
  if (n == 0) return;
  const float max_value = *std::max_element(x, x + n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) x[i] *= inverse;
}

}  // namespace jisu::cpu
