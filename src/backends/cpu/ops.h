#pragma once
// Row-wise CPU ops of the transformer: plain references written for accuracy. Each works on
// one token's row so the caller can parallelise over tokens; none allocates.
#include <cstddef>
#include <cstdint>

namespace jisu::cpu {

// out = x / sqrt(mean(x^2) + eps) * weight   (weight may be null: no scaling)
void rms_norm(const float* x, const float* weight, float eps, float* out, size_t n);

// out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (weight, bias may be null). out may
// be x.
void layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, size_t n);

// Rotates one head vector in place. cos_sin holds (cos, sin) pairs for each rotated pair i in
// [0, rotated_dims/2). Interleaved rotates (x[2i], x[2i+1]); NeoX rotates (x[i], x[i + d/2]).
void rope_interleaved(float* head, const float* cos_sin, size_t rotated_dims);
void rope_neox(float* head, const float* cos_sin, size_t rotated_dims);

// gate[i] = act(gate[i]) * up[i]. Dispatch on active_isa(): the AVX2 variants use a vector exp
// (within a few ulp of the scalar references, which call std::exp / std::tanh).
void silu_multiply(float* gate, const float* up, size_t n);
void gelu_tanh_multiply(float* gate, const float* up, size_t n);
void silu_multiply_scalar(float* gate, const float* up, size_t n);
void gelu_tanh_multiply_scalar(float* gate, const float* up, size_t n);
void silu_multiply_avx2(float* gate, const float* up, size_t n);
void gelu_tanh_multiply_avx2(float* gate, const float* up, size_t n);

// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2) (BERT): gated (gate[i] =
// gelu(gate[i]) * up[i]) and in place. Dispatch on active_isa(); the scalar references call
// std::erfc, the AVX2 variants a vector erfc of fractional error below 1.2e-7 (plus float
// rounding of its argument).
void gelu_erf_multiply(float* gate, const float* up, size_t n);
void gelu_erf_in_place(float* x, size_t n);
void gelu_erf_multiply_scalar(float* gate, const float* up, size_t n);
void gelu_erf_in_place_scalar(float* x, size_t n);
void gelu_erf_multiply_avx2(float* gate, const float* up, size_t n);
void gelu_erf_in_place_avx2(float* x, size_t n);
// The in-place forms of the other activations, for ungated feed-forwards (scalar).
void gelu_tanh_in_place(float* x, size_t n);
void silu_in_place(float* x, size_t n);

void add_in_place(float* x, const float* y, size_t n);
void add_scaled_in_place(float* x, const float* y, float scale, size_t n);
void scale_in_place(float* x, float scale, size_t n);

// In place softmax over n values.
void softmax(float* x, size_t n);

}  // namespace jisu::cpu
