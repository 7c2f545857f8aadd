// The encoder (BERT) pieces against float64 references: LayerNorm, exact GELU, the in-place
// activations, embedding pooling, and the /v1/embeddings request parser and body.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <variant>

#include "backends/cpu/ops.h"
#include "core/cpu_features.h"
#include "runtime/embedding_runner.h"
#include "server/openai_embeddings.h"

namespace jisu {
namespace {

std::vector<float> random_row(size_t n, uint32_t seed, float mean, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, scale);
  std::vector<float> row(n);
  for (float& v : row) v = normal(rng);
  return row;
}

TEST(EncoderOps, LayerNormMatchesFloat64) {
  for (const float offset : {0.0f, 1000.0f}) {  // a large mean: no E[x^2] - E[x]^2 cancellation
    const size_t n = 384;
    const std::vector<float> x = random_row(n, 1, offset, 2.0f), weight = random_row(n, 2, 1.0f, 0.1f),
                             bias = random_row(n, 3, 0.0f, 0.1f);
    double mean = 0, variance = 0;
    for (float v : x) mean += v;
    mean /= n;
    for (float v : x) variance += (v - mean) * (v - mean);
    variance /= n;
    std::vector<float> out(n), in_place = x;
    cpu::layer_norm(x.data(), weight.data(), bias.data(), 1e-12f, out.data(), n);
    cpu::layer_norm(in_place.data(), weight.data(), bias.data(), 1e-12f, in_place.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double expected = (x[i] - mean) / std::sqrt(variance + 1e-12) * weight[i] + bias[i];
      EXPECT_NEAR(out[i], expected, 1e-5 * (1 + std::abs(expected))) << "offset " << offset << " i " << i;
      EXPECT_EQ(in_place[i], out[i]);
    }
  }
}

// Relative error against float64 on every path. Rounding the argument z = -x / sqrt 2 to float
// moves erfc(z) ~ exp(-z^2) by 2 z^2 ulp in the negative tail, hence the x^2 term; in the far
// tail (|x| > 12) the value is below 1e-30 and only that bound is checked (the vector exp clamps
// its argument at -87).
TEST(EncoderOps, ExactGeluMatchesFloat64OnEveryIsa) {
  std::vector<float> x = random_row(1000, 4, 0.0f, 3.0f);
  x.insert(x.end(), {0.0f, -10.0f, 10.0f, -1e-30f, -5.0f, -8.0f, -30.0f, 30.0f, 95.0f, -95.0f});
  const std::vector<float> up = random_row(x.size(), 5, 0.0f, 1.0f);
  using Gated = void (*)(float*, const float*, size_t);
  using InPlace = void (*)(float*, size_t);
  struct Path {
    Gated gated;
    InPlace in_place;
    double relative;
    const char* name;
  };
  std::vector<Path> paths = {{cpu::gelu_erf_multiply_scalar, cpu::gelu_erf_in_place_scalar, 1e-6, "scalar"}};
  if (static_cast<int>(detected_isa()) >= static_cast<int>(Isa::Avx2))
    paths.push_back({cpu::gelu_erf_multiply_avx2, cpu::gelu_erf_in_place_avx2, 1e-5, "avx2"});
  for (const Path& path : paths) {
    for (size_t n : {x.size(), size_t(5)}) {  // a whole-vector run and a tail-only one
      std::vector<float> gated(x.begin(), x.begin() + n), plain = gated;
      path.gated(gated.data(), up.data(), n);
      path.in_place(plain.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const double expected = 0.5 * x[i] * std::erfc(-double(x[i]) / std::sqrt(2.0));
        const double relative = path.relative + 1.2e-7 * double(x[i]) * x[i];
        EXPECT_NEAR(plain[i], expected, relative * std::abs(expected) + 1e-30) << path.name << " x " << x[i];
        EXPECT_NEAR(gated[i], expected * up[i], relative * std::abs(expected * up[i]) + 1e-30)
            << path.name << " x " << x[i];
      }
    }
  }
}

// The ungated activations are the gated references with up = 1, bit for bit.
TEST(EncoderOps, InPlaceActivationsEqualGatedOnesTimesOne) {
  const std::vector<float> x = random_row(257, 6, 0.0f, 4.0f), ones(257, 1.0f);
  std::vector<float> silu = x, silu_gated = x, gelu = x, gelu_gated = x;
  cpu::silu_in_place(silu.data(), x.size());
  cpu::silu_multiply_scalar(silu_gated.data(), ones.data(), x.size());
  cpu::gelu_tanh_in_place(gelu.data(), x.size());
  cpu::gelu_tanh_multiply_scalar(gelu_gated.data(), ones.data(), x.size());
  EXPECT_EQ(silu, silu_gated);
  EXPECT_EQ(gelu, gelu_gated);
}

TEST(EmbeddingPooling, MeanClsLastNoneAndNormalisation) {
  const size_t rows = 3, dims = 4;
  const std::vector<float> hidden = {1, 2, 3, 4, /**/ 5, 6, 7, 8, /**/ -3, 1, 2, 0};
  std::vector<float> out;
  pool_embedding(EmbeddingPooling::Mean, hidden.data(), rows, dims, false, out);
  EXPECT_EQ(out, (std::vector<float>{1, 3, 4, 4}));
  pool_embedding(EmbeddingPooling::Cls, hidden.data(), rows, dims, false, out);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4}));
  pool_embedding(EmbeddingPooling::Last, hidden.data(), rows, dims, false, out);
  EXPECT_EQ(out, (std::vector<float>{-3, 1, 2, 0}));
  pool_embedding(EmbeddingPooling::None, hidden.data(), rows, dims, true, out);
  ASSERT_EQ(out.size(), rows * dims);
  for (size_t r = 0; r < rows; ++r) {
    double norm = 0;
    for (size_t i = 0; i < dims; ++i) norm += double(out[r * dims + i]) * out[r * dims + i];
    EXPECT_NEAR(norm, 1.0, 1e-6);
  }
  pool_embedding(EmbeddingPooling::Mean, hidden.data(), rows, dims, true, out);
  EXPECT_NEAR(out[0], 1 / std::sqrt(42.0), 1e-7);  // (1, 3, 4, 4) / sqrt(42)
  const std::vector<float> zeros(dims, 0.0f);
  pool_embedding(EmbeddingPooling::Cls, zeros.data(), 1, dims, true, out);
  EXPECT_EQ(out, zeros);  // no division by zero
}

TEST(EmbeddingsRequest, ShapesOfInput) {
  using server::EmbeddingsRequest;
  using server::parse_embeddings_request;
  auto ok = [](const std::string& body) {
    auto parsed = parse_embeddings_request(body, "m", 64);
    EXPECT_TRUE(std::holds_alternative<EmbeddingsRequest>(parsed)) << body;
    return std::holds_alternative<EmbeddingsRequest>(parsed) ? std::get<EmbeddingsRequest>(parsed) : EmbeddingsRequest{};
  };
  EXPECT_EQ(ok(R"({"input": "a"})").texts.size(), 1u);
  EXPECT_EQ(ok(R"({"input": ["a", "b"], "model": "m"})").texts.size(), 2u);
  EXPECT_EQ(ok(R"({"input": [1, 2, 3]})").token_inputs, (std::vector<std::vector<int32_t>>{{1, 2, 3}}));
  EXPECT_EQ(ok(R"({"input": [[1], [2, 3]]})").token_inputs.size(), 2u);
  EXPECT_TRUE(ok(R"({"input": "a", "encoding_format": "base64"})").base64);
  for (const char* body : {R"({"input": ""})", R"({"input": []})", R"({"input": [""]})", R"({"input": 1})",
                           R"({"input": ["a", 1]})", R"({"input": [[1], "a"]})", R"({"input": [[]]})",
                           R"({"input": [-1]})", R"({"input": [1.5]})", R"({"input": [4294967296]})", R"({})", R"([])",
                           R"({"input": "a", "model": "x"})", R"({"input": "a", "encoding_format": 1})", "{",
                           R"({"input": [[[1]]]})"}) {
    auto parsed = parse_embeddings_request(body, "m", 64);
    ASSERT_TRUE(std::holds_alternative<server::ApiError>(parsed)) << body;
    EXPECT_EQ(std::get<server::ApiError>(parsed).status, 400) << body;
  }
  std::string many = R"({"input": [)";
  for (size_t i = 0; i <= server::kMaxEmbeddingInputs; ++i) many += i ? ",\"a\"" : "\"a\"";
  EXPECT_TRUE(std::holds_alternative<server::ApiError>(parse_embeddings_request(many + "]}", "m", 64)));
}

TEST(EmbeddingsResponse, Base64IsLittleEndianFloat32) {
  EmbeddingResult result;
  result.embeddings = {{1.0f, -2.5f}, {0.0f}};
  result.prompt_tokens = 7;
  const nlohmann::json body = server::embeddings_body(result, "m", true);
  // 1.0f = 00 00 80 3f, -2.5f = 00 00 20 c0 -> base64 of those 8 bytes.
  EXPECT_EQ(body["data"][0]["embedding"], "AACAPwAAIMA=");
  EXPECT_EQ(body["data"][1]["embedding"], "AAAAAA==");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 7);
  const nlohmann::json floats = server::embeddings_body(result, "m", false);
  EXPECT_EQ(floats["data"][0]["embedding"][1], -2.5);
  EXPECT_EQ(floats["data"][1]["index"], 1);
  EXPECT_EQ(floats["object"], "list");
}

}  // namespace
}  // namespace jisu
