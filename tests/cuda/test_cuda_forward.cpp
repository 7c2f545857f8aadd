// The whole CUDA forward pass against the CPU Transformer on the fixture models: prefill
// batches (cuBLAS path), token-by-token decode (GEMV path), several sequences in one batch
// (paged KV through the block tables), and CPU+GPU layer splits.
#include <algorithm>
#include <memory>

#include "core/error.h"
#include "cuda_test_support.h"
#include "models/forward_factory.h"
#include "models/model.h"
#include "test_support.h"

namespace jisu::cuda::test {
namespace {

using jisu::test::fixtures_dir;
using jisu::test::relative_l2_error;

constexpr double kTolerance = 1e-2;  // relative L2 over all logits of a run (the bound)

KvCacheOptions cache_options() {
  KvCacheOptions options;
  options.max_sequences = 3;
  options.block_size = 16;
  options.context_length = 256;
  return options;
}

// A forward pass with its own cache, driven the same way for the CPU and the GPU.
struct Runner {
  Runner(const Model& model, ThreadPool& pool, const DeviceOptions& device)
      : cache(model.config().context_length, cache_options()), n_vocab(size_t(model.config().n_vocab)) {
    forward = make_forward_pass(device, model.config(), model.weights(), pool, 64, cache);
  }
  std::vector<float> run(const Batch& batch) {
    std::vector<float> logits(batch.n_outputs() * n_vocab);
    forward->forward(batch, cache, logits.data());
    return logits;
  }
  KvCache cache;
  size_t n_vocab;
  std::unique_ptr<ForwardPass> forward;
};

double top1_agreement(const std::vector<float>& a, const std::vector<float>& b, size_t n_vocab) {
  size_t same = 0, rows = a.size() / n_vocab;
  for (size_t r = 0; r < rows; ++r) {
    const auto row_a = a.begin() + std::ptrdiff_t(r * n_vocab), row_b = b.begin() + std::ptrdiff_t(r * n_vocab);
    same += std::max_element(row_a, row_a + std::ptrdiff_t(n_vocab)) - row_a ==
            std::max_element(row_b, row_b + std::ptrdiff_t(n_vocab)) - row_b;
  }
  return rows ? double(same) / double(rows) : 1.0;
}

void expect_same_logits(const std::vector<float>& gpu, const std::vector<float>& cpu, size_t n_vocab,
                        const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  const double error = relative_l2_error(gpu, cpu);
  std::printf("%-48s rel_l2=%.3e\n", what.c_str(), error);
  EXPECT_LE(error, kTolerance) << what;
  EXPECT_GE(top1_agreement(gpu, cpu, n_vocab), 0.9) << what;
}

class CudaForwardTest : public ::testing::TestWithParam<std::string> {};

std::vector<int32_t> fixture_tokens(const Model& model, size_t count) {
  std::vector<int32_t> tokens(count);
  for (size_t i = 0; i < count; ++i) tokens[i] = int32_t((i * 7919 + 13) % size_t(model.config().n_vocab));
  return tokens;
}

TEST_P(CudaForwardTest, PrefillDecodeAndMixedBatchesMatchCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  const auto model = Model::load(fixtures_dir() + "/models/" + GetParam() + ".gguf");
  ThreadPool pool(2);
  Runner cpu(*model, pool, {Device::Cpu, 0});
  Runner gpu(*model, pool, {Device::Cuda, -1});
  const std::vector<int32_t> tokens = fixture_tokens(*model, 48);

  // Prefill: one batch of 40 tokens (the cuBLAS path), every token's logits.
  Batch batch(64);
  for (int32_t i = 0; i < 40; ++i) batch.add(tokens[size_t(i)], i, 0, true);
  expect_same_logits(gpu.run(batch), cpu.run(batch), cpu.n_vocab, GetParam() + " prefill 40");

  // Decode: one token per step on top of that cache (the GEMV path, attention over 40+ positions).
  for (int32_t i = 40; i < 48; ++i) {
    batch.clear();
    batch.add(tokens[size_t(i)], i, 0, true);
    expect_same_logits(gpu.run(batch), cpu.run(batch), cpu.n_vocab, GetParam() + " decode " + std::to_string(i));
  }

  // Two more sequences, interleaved in one batch of 12 (GEMV path, two block tables), with
  // only some logits wanted, then a decode step of all three sequences together.
  batch.clear();
  for (int32_t i = 0; i < 6; ++i) {
    batch.add(tokens[size_t(47 - i)], i, 1, i % 2 == 1);
    batch.add(tokens[size_t(i + 3)], i, 2, i == 5);
  }
  expect_same_logits(gpu.run(batch), cpu.run(batch), cpu.n_vocab, GetParam() + " interleaved");
  batch.clear();
  batch.add(tokens[1], 48, 0, true);
  batch.add(tokens[2], 6, 1, true);
  batch.add(tokens[3], 6, 2, true);
  expect_same_logits(gpu.run(batch), cpu.run(batch), cpu.n_vocab, GetParam() + " three sequences");
}

TEST_P(CudaForwardTest, LayerSplitsMatchCpu) {
  JISU_REQUIRE_CUDA_DEVICE();
  const auto model = Model::load(fixtures_dir() + "/models/" + GetParam() + ".gguf");
  ThreadPool pool(2);
  Runner cpu(*model, pool, {Device::Cpu, 0});
  const std::vector<int32_t> tokens = fixture_tokens(*model, 24);
  Batch prompt(64), step(1);
  for (int32_t i = 0; i < 20; ++i) prompt.add(tokens[size_t(i)], i, 0, i >= 18);
  step.add(tokens[20], 20, 0, true);
  const std::vector<float> want_prompt = cpu.run(prompt), want_step = cpu.run(step);
  for (int32_t layers = 1; layers < model->config().n_layer; ++layers) {
    Runner split(*model, pool, {Device::Cuda, layers});
    const std::string what = GetParam() + " gpu_layers " + std::to_string(layers);
    expect_same_logits(split.run(prompt), want_prompt, cpu.n_vocab, what + " prompt");
    expect_same_logits(split.run(step), want_step, cpu.n_vocab, what + " step");
  }
}

// Every device type read in place, the F16 fallback (q5_k_m, q2_k), fused QKV/gate-up (phi3),
// biases and NeoX RoPE (qwen2), tied output, GELU and scaled input (gemma).
INSTANTIATE_TEST_SUITE_P(Fixtures, CudaForwardTest,
                         ::testing::Values("tiny-llama-s1.f32", "tiny-llama-s1.f16", "tiny-llama-s1.bf16",
                                           "tiny-llama-s1.q8_0", "tiny-llama-s1.q4_0", "tiny-llama-s1.q4_k_m",
                                           "tiny-llama-s1.q6_k", "tiny-llama-s1.q5_k_m", "tiny-llama-s1.q2_k",
                                           "tiny-qwen2-s1.q8_0", "tiny-phi3-s1.f16", "tiny-gemma-s1.q4_k_m"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return name;
                         });

TEST(CudaForward, MixtureOfExpertsIsRefusedWithOneLine) {
  JISU_REQUIRE_CUDA_DEVICE();
  const auto model = Model::load(fixtures_dir() + "/models/tiny-moe-s1.f32.gguf");
  ThreadPool pool(1);
  KvCache cache(model->config().context_length, cache_options());
  EXPECT_THROW(make_forward_pass({Device::Cuda, -1}, model->config(), model->weights(), pool, 8, cache), Error);
}

}  // namespace
}  // namespace jisu::cuda::test
