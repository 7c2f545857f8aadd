// Each CUDA kernel against its CPU reference (backends/cpu): the weight-type GEMV and the
// cuBLAS path for every type the device reads, the fused norm, the GLUs, the QKV
// bias/norm/RoPE/KV-write kernel and paged attention with several splits.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/attention.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cuda/device_buffer.h"
#include "backends/cuda/device_linear.h"
#include "backends/cuda/kernels.h"
#include "compress/quantize_row.h"
#include "cuda_test_support.h"

namespace jisu::cuda::test {
namespace {

// |got - want| <= tolerance * scale, where scale is the sum of |w_k x_k| of the dot product
// (the size of the rounding the product can suffer).
void expect_close_scaled(float got, float want, double scale, double tolerance, const std::string& what) {
  EXPECT_LE(std::abs(double(got) - want), tolerance * scale + 1e-30) << what << ": got " << got << " want " << want;
}

TEST(CudaKernels, LinearMatchesCpuForEveryDeviceType) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(11);
  const int64_t rows = 67, cols = 512;  // 67 rows: a partial block of the GEMV grid
  const std::vector<float> dense = random_floats(size_t(rows * cols), rng);
  Stream stream;
  DeviceLinear linear(stream.get(), 40, cols);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    ASSERT_TRUE(device_reads_type(type));
    const size_t row_bytes = jisu::row_bytes(type, size_t(cols));
    std::vector<uint8_t> weights(size_t(rows) * row_bytes);
    std::vector<float> dequantized(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      compress::quantize_row(type, dense.data() + r * cols, weights.data() + size_t(r) * row_bytes, size_t(cols));
      cpu::dequantize_row_scalar(type, weights.data() + size_t(r) * row_bytes, dequantized.data() + r * cols, size_t(cols));
    }
    const DeviceBuffer device_weights = to_device(weights);
    const DeviceMatrix matrix{type, device_weights.get(), rows, cols, row_bytes};
    for (int n : {1, 5, 16, 17, 40}) {
      const size_t x_stride = size_t(cols) + 32, y_stride = size_t(rows) + 5;  // strides wider than the data
      const std::vector<float> x = random_floats(size_t(n) * x_stride, rng);
      std::vector<float> want(size_t(n) * y_stride, 0.0f);
      cpu::MatmulArgs args{type, weights.data(), row_bytes, size_t(cols), x.data(), x_stride, size_t(n),
                           want.data(), y_stride, 0, size_t(rows)};
      cpu::matmul_rows_scalar(args);
      const DeviceBuffer device_x = to_device(x);
      const DeviceBuffer device_y = to_device(std::vector<float>(want.size(), -7.0f));
      linear.run(matrix, device_x.get<float>(), x_stride, n, device_y.get<float>(), y_stride);
      const std::vector<float> got = to_host<float>(device_y, want.size());
      // GEMV: float weights and activations (rounding order only). cuBLAS: both in fp16.
      const double tolerance = n <= kMaxGemvTokens ? 1e-5 : 3e-3;
      for (int t = 0; t < n; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double scale = 0;
          for (int64_t k = 0; k < cols; ++k)
            scale += std::abs(double(dequantized[size_t(r * cols + k)]) * x[size_t(t) * x_stride + size_t(k)]);
          const size_t at = size_t(t) * y_stride + size_t(r);
          expect_close_scaled(got[at], want[at], scale, tolerance,
                              std::string(dtype_name(type)) + " n=" + std::to_string(n) + " t=" + std::to_string(t) +
                                  " r=" + std::to_string(r));
        }
        // The padding between rows of y is not written.
        for (size_t r = size_t(rows); r < y_stride; ++r) EXPECT_EQ(got[size_t(t) * y_stride + r], -7.0f);
      }
    }
  }
}

TEST(CudaKernels, DequantizeToHalfMatchesCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(12);
  const int64_t rows = 9, cols = 768;
  const std::vector<float> dense = random_floats(size_t(rows * cols), rng);
  for (DType type : {DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const size_t row_bytes = jisu::row_bytes(type, size_t(cols));
    std::vector<uint8_t> weights(size_t(rows) * row_bytes);
    for (int64_t r = 0; r < rows; ++r)
      compress::quantize_row(type, dense.data() + r * cols, weights.data() + size_t(r) * row_bytes, size_t(cols));
    const DeviceBuffer device_weights = to_device(weights);
    const DeviceMatrix matrix{type, device_weights.get(), rows, cols, row_bytes};
    const int64_t first = 2, last = 7;
    DeviceBuffer out(size_t((last - first) * cols) * 2);
    launch_dequantize_f16(matrix, first, last, out.get(), nullptr);
    const std::vector<uint16_t> got = to_host<uint16_t>(out, size_t((last - first) * cols));
    std::vector<float> want(static_cast<size_t>(cols));
    for (int64_t r = first; r < last; ++r) {
      cpu::dequantize_row_scalar(type, weights.data() + size_t(r) * row_bytes, want.data(), size_t(cols));
      // Within one half-precision step: the device may fuse the scale and the offset (FMA).
      for (int64_t k = 0; k < cols; ++k)
        ASSERT_NEAR(cpu::fp16_to_fp32(got[size_t((r - first) * cols + k)]), want[size_t(k)],
                    std::abs(want[size_t(k)]) * 1e-3f + 1e-6f)
            << dtype_name(type) << " row " << r << " col " << k;
    }
  }
}

TEST(CudaKernels, AddRmsNormMatchesCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(13);
  const int d = 320, n = 6;
  const std::vector<float> hidden = random_floats(size_t(n * d), rng, 3.0f);
  const std::vector<float> delta = random_floats(hidden.size(), rng);
  const std::vector<float> weight = random_floats(size_t(d), rng);
  const std::vector<int32_t> rows = {4, 1};
  DeviceBuffer device_hidden = to_device(hidden);
  const DeviceBuffer device_delta = to_device(delta), device_weight = to_device(weight), device_rows = to_device(rows);
  DeviceBuffer out(size_t(n * d) * sizeof(float));
  launch_add_rms_norm(device_hidden.get<float>(), device_delta.get<float>(), device_weight.get<float>(), 1e-5f, d, nullptr,
                      n, out.get<float>(), nullptr);
  const std::vector<float> sum = to_host<float>(device_hidden, hidden.size());
  const std::vector<float> normed = to_host<float>(out, hidden.size());
  std::vector<float> want_sum = hidden, want(static_cast<size_t>(d));
  for (int t = 0; t < n; ++t) {
    cpu::add_in_place(want_sum.data() + t * d, delta.data() + t * d, size_t(d));
    cpu::rms_norm(want_sum.data() + t * d, weight.data(), 1e-5f, want.data(), size_t(d));
    for (int i = 0; i < d; ++i) {
      ASSERT_EQ(sum[size_t(t * d + i)], want_sum[size_t(t * d + i)]);
      ASSERT_NEAR(normed[size_t(t * d + i)], want[size_t(i)], 1e-5f * (1.0f + std::abs(want[size_t(i)])));
    }
  }
  // Gathered rows, no residual, no weight (the output head's form).
  launch_add_rms_norm(device_hidden.get<float>(), nullptr, nullptr, 1e-6f, d, device_rows.get<int32_t>(), 2,
                      out.get<float>(), nullptr);
  const std::vector<float> gathered = to_host<float>(out, size_t(2 * d));
  for (size_t j = 0; j < rows.size(); ++j) {
    cpu::rms_norm(want_sum.data() + rows[j] * d, nullptr, 1e-6f, want.data(), size_t(d));
    for (int i = 0; i < d; ++i)
      ASSERT_NEAR(gathered[j * size_t(d) + size_t(i)], want[size_t(i)], 1e-5f * (1.0f + std::abs(want[size_t(i)])));
  }
}

TEST(CudaKernels, GatedActivationsMatchCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(14);
  const int n = 3, ff = 96;
  const size_t gate_stride = 2 * ff;  // the fused layout: up follows the gate in each row
  const std::vector<float> gate = random_floats(size_t(n) * gate_stride, rng, 2.0f);
  for (bool gelu : {false, true}) {
    DeviceBuffer device_gate = to_device(gate);
    launch_glu(device_gate.get<float>(), gate_stride, device_gate.get<float>() + ff, gate_stride, n, ff, gelu, nullptr);
    const std::vector<float> got = to_host<float>(device_gate, gate.size());
    std::vector<float> want = gate;
    for (int t = 0; t < n; ++t) {
      float* row = want.data() + size_t(t) * gate_stride;
      gelu ? cpu::gelu_tanh_multiply(row, row + ff, size_t(ff)) : cpu::silu_multiply(row, row + ff, size_t(ff));
    }
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f * (1.0f + std::abs(want[i]))) << i;
  }
}

TEST(CudaKernels, QkvBiasNormRopeAndKvWriteMatchCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(15);
  const int n = 3, n_head = 4, n_head_kv = 2, head_dim = 64, rope_dims = 32;  // partial rotary
  const int q_dim = n_head * head_dim, kv_dim = n_head_kv * head_dim, stride = q_dim + 2 * kv_dim;
  const int cache_rows = 40;
  const std::vector<float> qkv = random_floats(size_t(n * stride), rng);
  const std::vector<float> bias = random_floats(size_t(stride), rng);
  const std::vector<float> q_norm = random_floats(size_t(head_dim), rng), k_norm = random_floats(size_t(head_dim), rng);
  const std::vector<float> cos_sin = random_floats(size_t(n * rope_dims), rng);
  const std::vector<int32_t> kv_rows = {17, 3, 38};
  for (bool neox : {false, true}) {
    DeviceBuffer device_qkv = to_device(qkv);
    const DeviceBuffer device_bias = to_device(bias), device_q_norm = to_device(q_norm), device_k_norm = to_device(k_norm);
    const DeviceBuffer device_cos_sin = to_device(cos_sin), device_rows = to_device(kv_rows);
    DeviceBuffer keys = to_device(std::vector<float>(size_t(cache_rows * kv_dim), 0.0f));
    DeviceBuffer values = to_device(std::vector<float>(size_t(cache_rows * kv_dim), 0.0f));
    QkvArgs args{device_qkv.get<float>(), size_t(stride), n, n_head, n_head_kv, head_dim, rope_dims, neox,
                 device_bias.get<float>(), device_q_norm.get<float>(), device_k_norm.get<float>(), 1e-6f,
                 device_cos_sin.get<float>(), device_rows.get<int32_t>(), keys.get<float>(), values.get<float>()};
    launch_qkv_rope_kv_write(args, nullptr);
    const std::vector<float> got = to_host<float>(device_qkv, qkv.size());
    const std::vector<float> got_keys = to_host<float>(keys, size_t(cache_rows * kv_dim));
    const std::vector<float> got_values = to_host<float>(values, size_t(cache_rows * kv_dim));
    std::vector<float> want = qkv;
    for (int t = 0; t < n; ++t) {
      float* row = want.data() + t * stride;
      cpu::add_in_place(row, bias.data(), size_t(stride));
      for (int h = 0; h < n_head + n_head_kv; ++h) {
        float* head = row + h * head_dim;
        cpu::rms_norm(head, h < n_head ? q_norm.data() : k_norm.data(), 1e-6f, head, size_t(head_dim));
        const float* angles = cos_sin.data() + t * rope_dims;
        neox ? cpu::rope_neox(head, angles, size_t(rope_dims)) : cpu::rope_interleaved(head, angles, size_t(rope_dims));
      }
      for (int i = 0; i < stride; ++i)
        ASSERT_NEAR(got[size_t(t * stride + i)], row[i], 2e-5f * (1.0f + std::abs(row[i]))) << "t " << t << " i " << i;
      for (int i = 0; i < kv_dim; ++i) {
        const size_t at = size_t(kv_rows[size_t(t)] * kv_dim + i);
        ASSERT_EQ(got_keys[at], got[size_t(t * stride + q_dim + i)]);
        ASSERT_EQ(got_values[at], got[size_t(t * stride + q_dim + kv_dim + i)]);
      }
    }
  }
}

TEST(CudaKernels, PagedAttentionMatchesCpuForAnySplit) {
  JISU_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(16);
  const int n_head = 8, n_head_kv = 2, head_dim = 128, kv_dim = n_head_kv * head_dim, block_size = 16, n_blocks = 48;
  const std::vector<float> keys = random_floats(size_t(n_blocks * block_size * kv_dim), rng);
  const std::vector<float> values = random_floats(keys.size(), rng);
  // Two sequences with scattered, disjoint blocks; tokens at short and long positions.
  std::vector<int32_t> blocks(n_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  const std::vector<int32_t> tables(blocks.begin(), blocks.end());  // sequence 0: [0, 24), sequence 1: [24, 48)
  const std::vector<int32_t> positions = {0, 5, 383, 200, 16, 1};
  const std::vector<int32_t> table_offsets = {0, 0, 0, 24, 24, 24};
  const int n = static_cast<int>(positions.size());
  const size_t q_stride = size_t(n_head * head_dim) + 64;
  const std::vector<float> q = random_floats(size_t(n) * q_stride, rng, 0.3f);
  const DeviceBuffer device_keys = to_device(keys), device_values = to_device(values), device_q = to_device(q);
  const DeviceBuffer device_tables = to_device(tables), device_offsets = to_device(table_offsets);
  const DeviceBuffer device_positions = to_device(positions);
  const float scale = 1.0f / std::sqrt(float(head_dim));
  for (int splits : {1, 3, 7, 32}) {
    const int split_positions = (384 + splits - 1) / splits;
    DeviceBuffer partials(size_t(n * n_head * splits * (head_dim + 2)) * sizeof(float));
    DeviceBuffer out(size_t(n * n_head * head_dim) * sizeof(float));
    const AttentionArgs args{device_q.get<float>(), q_stride, device_keys.get<float>(), device_values.get<float>(),
                             device_tables.get<int32_t>(), device_offsets.get<int32_t>(),
                             device_positions.get<int32_t>(), n, n_head, n_head_kv, head_dim, block_size, kv_dim, scale,
                             splits, split_positions, partials.get<float>(), out.get<float>(),
                             size_t(n_head * head_dim)};
    launch_attention(args, nullptr);
    const std::vector<float> got = to_host<float>(out, size_t(n * n_head * head_dim));
    std::vector<float> want(static_cast<size_t>(head_dim));
    for (int t = 0; t < n; ++t) {
      // The CPU scalar reference over the same rows as an f32 KV cache, one query head at a time.
      const cpu::KvLayerRows rows{reinterpret_cast<const uint8_t*>(keys.data()), reinterpret_cast<const uint8_t*>(values.data()),
                                  tables.data() + table_offsets[size_t(t)], block_size, kv_dim, DType::F32, DType::F32};
      for (int h = 0; h < n_head; ++h) {
        cpu::attention_group_rows_scalar(q.data() + size_t(t) * q_stride + size_t(h * head_dim), 1, rows,
                                         h / (n_head / n_head_kv), head_dim, positions[size_t(t)] + 1, scale, want.data());
        for (int i = 0; i < head_dim; ++i)
          ASSERT_NEAR(got[size_t((t * n_head + h) * head_dim + i)], want[size_t(i)], 2e-5f)
              << "splits " << splits << " token " << t << " head " << h << " dim " << i;
      }
    }
  }
}

}  // namespace
}  // namespace jisu::cuda::test
