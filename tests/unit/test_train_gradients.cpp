// Training backward passes against central finite differences in double precision: each op on
// its own, then every parameter of a whole tiny model (llama layer sequence, GQA, interleaved
// and NeoX RoPE, tied and untied output) under cross-entropy and under the distillation loss.
// The float path (blocked GEMM, threads) is checked against the double one.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "train/gemm.h"
#include "train/train_ops.h"
#include "train/transformer_gradients.h"

namespace jisu::train {
namespace {

std::vector<double> random_values(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 generator(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> values(n);
  for (auto& value : values) value = normal(generator);
  return values;
}

// Checks analytic d/dx of f (given) against central differences of f at every element of x.
void expect_matches_finite_differences(std::vector<double>& x, const std::function<double()>& f,
                                       const std::vector<double>& analytic, const std::string& what,
                                       double tolerance = 1e-6) {
  ASSERT_EQ(x.size(), analytic.size());
  const double h = 1e-5;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = f();
    x[i] = saved - h;
    const double down = f();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(analytic[i], numeric, tolerance * (1.0 + std::abs(numeric))) << what << " element " << i;
  }
}

// Loss = sum(out * projection), so d loss / d out = projection.
double project(const std::vector<double>& out, const std::vector<double>& projection) {
  double sum = 0;
  for (size_t i = 0; i < out.size(); ++i) sum += out[i] * projection[i];
  return sum;
}

TEST(TrainOps, RmsNormBackwardMatchesFiniteDifferences) {
  const size_t rows = 3, dim = 7;
  auto x = random_values(rows * dim, 1), w = random_values(dim, 2), p = random_values(rows * dim, 3);
  std::vector<double> y(rows * dim), inv(rows);
  const auto f = [&] {
    rms_norm_forward<double>(nullptr, x.data(), w.data(), y.data(), inv.data(), rows, dim, 1e-5);
    return project(y, p);
  };
  f();
  std::vector<double> dx(rows * dim, 0.0), dw(dim, 0.0);
  rms_norm_backward<double>(nullptr, p.data(), x.data(), w.data(), inv.data(), dx.data(), dw.data(), rows, dim);
  expect_matches_finite_differences(x, f, dx, "dx");
  expect_matches_finite_differences(w, f, dw, "dw");
}

TEST(TrainOps, RopeBackwardMatchesFiniteDifferencesBothStyles) {
  for (const bool neox : {false, true}) {
    const size_t seq = 4, tokens = 8, heads = 2, hd = 6;
    auto x = random_values(tokens * heads * hd, 4), p = random_values(tokens * heads * hd, 5);
    const auto table = rope_angles<double>(seq, hd, 10000.0);
    const auto f = [&] {
      std::vector<double> y = x;
      rope_apply<double>(nullptr, y.data(), table.data(), tokens, seq, heads, hd, neox, 1.0);
      return project(y, p);
    };
    std::vector<double> dx = p;
    rope_apply<double>(nullptr, dx.data(), table.data(), tokens, seq, heads, hd, neox, -1.0);
    expect_matches_finite_differences(x, f, dx, neox ? "neox" : "interleaved");
  }
}

TEST(TrainOps, AttentionBackwardMatchesFiniteDifferencesWithGroupedHeads) {
  const AttentionShape s{2, 5, 4, 2, 3};  // 2 sequences of 5, 4 query heads sharing 2 KV heads
  const size_t tokens = s.n_seq * s.seq_len;
  auto q = random_values(tokens * s.q_width(), 6), k = random_values(tokens * s.kv_width(), 7);
  auto v = random_values(tokens * s.kv_width(), 8), p = random_values(tokens * s.q_width(), 9);
  std::vector<double> probs(s.n_seq * s.n_head * s.seq_len * s.seq_len), out(tokens * s.q_width());
  const auto f = [&] {
    attention_forward<double>(nullptr, s, q.data(), k.data(), v.data(), probs.data(), out.data());
    return project(out, p);
  };
  f();
  std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
  attention_backward<double>(nullptr, s, q.data(), k.data(), v.data(), probs.data(), out.data(), p.data(), dq.data(),
                             dk.data(), dv.data());
  expect_matches_finite_differences(q, f, dq, "dq");
  expect_matches_finite_differences(k, f, dk, "dk");
  expect_matches_finite_differences(v, f, dv, "dv");
}

TEST(TrainOps, SwigluBackwardMatchesFiniteDifferences) {
  const size_t n = 20;
  auto gate = random_values(n, 10, 2.0), up = random_values(n, 11), p = random_values(n, 12);
  std::vector<double> a(n);
  const auto f = [&] {
    swiglu_forward<double>(nullptr, gate.data(), up.data(), a.data(), n);
    return project(a, p);
  };
  std::vector<double> dgate(n), dup(n);
  swiglu_backward<double>(nullptr, gate.data(), up.data(), p.data(), dgate.data(), dup.data(), n);
  expect_matches_finite_differences(gate, f, dgate, "dgate");
  expect_matches_finite_differences(up, f, dup, "dup");
}

TEST(TrainOps, GemmAndTransposeGradientsMatchFiniteDifferences) {
  // y = x * w^T as the layers compute it: dx = dy * w, dw = dy^T * x.
  const size_t m = 5, k = 4, n = 3;
  auto x = random_values(m * k, 13), w = random_values(n * k, 14), p = random_values(m * n, 15);
  const auto f = [&] {
    std::vector<double> wt(k * n), y(m * n);
    transpose<double>(nullptr, w.data(), wt.data(), n, k);
    gemm(nullptr, x.data(), wt.data(), y.data(), m, k, n, false);
    return project(y, p);
  };
  std::vector<double> dx(m * k), dw(n * k, 0.0), pt(n * m);
  gemm(nullptr, p.data(), w.data(), dx.data(), m, n, k, false);
  transpose<double>(nullptr, p.data(), pt.data(), m, n);
  gemm(nullptr, pt.data(), x.data(), dw.data(), n, m, k, true);
  expect_matches_finite_differences(x, f, dx, "dx");
  expect_matches_finite_differences(w, f, dw, "dw");
}

TEST(TrainOps, CrossEntropyAndDistillationGradientsMatchFiniteDifferences) {
  const size_t rows = 3, vocab = 6;
  auto z = random_values(rows * vocab, 16, 2.0);
  const std::vector<int32_t> targets = {2, -1, 5};
  std::vector<double> dz(rows * vocab);
  const auto ce = [&] { return cross_entropy<double>(nullptr, z.data(), targets.data(), nullptr, rows, vocab, 1.0); };
  cross_entropy<double>(nullptr, z.data(), targets.data(), dz.data(), rows, vocab, 1.0);
  expect_matches_finite_differences(z, ce, dz, "cross-entropy");
  // Cross-entropy value against the definition.
  double expected = 0;
  for (const size_t r : {size_t(0), size_t(2)}) {
    double sum = 0;
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(z[r * vocab + i]);
    expected += std::log(sum) - z[r * vocab + size_t(targets[r])];
  }
  EXPECT_NEAR(ce(), expected, 1e-12);

  const auto teacher_d = random_values(rows * vocab, 17, 2.0);
  const std::vector<float> teacher(teacher_d.begin(), teacher_d.end());
  for (const double temperature : {1.0, 2.5})
    for (const double alpha : {0.0, 0.3, 1.0}) {
      const auto kd = [&] {
        return distillation_loss<double>(nullptr, z.data(), teacher.data(), targets.data(), nullptr, rows, vocab,
                                         temperature, alpha, 1.0);
      };
      distillation_loss<double>(nullptr, z.data(), teacher.data(), targets.data(), dz.data(), rows, vocab,
                                temperature, alpha, 1.0);
      expect_matches_finite_differences(z, kd, dz, "distillation");
      // The loss against its definition, written out.
      double loss = 0;
      for (size_t r = 0; r < rows; ++r) {
        double zs = 0, zt = 0, zh = 0;
        for (size_t i = 0; i < vocab; ++i) {
          zs += std::exp(z[r * vocab + i] / temperature);
          zt += std::exp(double(teacher[r * vocab + i]) / temperature);
          zh += std::exp(z[r * vocab + i]);
        }
        double kl = 0;
        for (size_t i = 0; i < vocab; ++i) {
          const double qt = std::exp(double(teacher[r * vocab + i]) / temperature) / zt;
          const double qs = std::exp(z[r * vocab + i] / temperature) / zs;
          kl += qt * std::log(qt / qs);
        }
        const double hard = targets[r] >= 0 ? std::log(zh) - z[r * vocab + size_t(targets[r])] : 0.0;
        loss += (targets[r] >= 0 ? alpha * hard : 0.0) + (1 - alpha) * temperature * temperature * kl;
      }
      EXPECT_NEAR(kd(), loss, 1e-10 * (1 + std::abs(loss)));
    }
}

TrainShape tiny_shape(bool tied, bool neox) {
  TrainShape shape;
  shape.n_vocab = 11;
  shape.dim = 8;
  shape.n_layer = 2;
  shape.n_head = 2;
  shape.n_head_kv = 1;
  shape.n_ff = 12;
  shape.context_length = 5;
  shape.tied_output = tied;
  shape.rope_neox = neox;
  return shape;
}

std::vector<double> tiny_parameters(const ParameterLayout& layout, uint32_t seed) {
  std::vector<double> params = random_values(layout.total(), seed, 0.5);
  for (const auto& tensor : layout.tensors())
    if (tensor.is_norm)
      for (size_t i = 0; i < tensor.size(); ++i) params[tensor.offset + i] = 1.0 + 0.3 * params[tensor.offset + i];
  return params;
}

TEST(TrainModel, EveryParameterGradientMatchesFiniteDifferences) {
  for (const bool tied : {false, true})
    for (const bool neox : {false, true}) {
      const TrainShape shape = tiny_shape(tied, neox);
      const size_t n_seq = 2, seq = 5;
      TransformerGradients<double> model(shape, n_seq, seq, nullptr);
      std::vector<double> params = tiny_parameters(model.layout(), 20 + (tied ? 1 : 0) + (neox ? 2 : 0));
      std::vector<int32_t> tokens, targets;
      std::mt19937 generator(7);
      for (size_t i = 0; i < n_seq * seq; ++i) {
        tokens.push_back(int32_t(generator() % 11));
        targets.push_back(int32_t(generator() % 11));
      }
      const double scale = 1.0 / double(n_seq * seq);
      const auto loss = [&] {
        model.forward(params.data(), tokens.data());
        return cross_entropy<double>(nullptr, model.logits(), targets.data(), nullptr, n_seq * seq, 11, scale) * scale;
      };
      model.forward(params.data(), tokens.data());
      cross_entropy<double>(nullptr, model.logits(), targets.data(), model.logits_gradient(), n_seq * seq, 11, scale);
      std::vector<double> grads(params.size(), 0.0);
      model.backward(params.data(), grads.data());
      expect_matches_finite_differences(params, loss, grads,
                                        std::string(tied ? "tied" : "untied") + (neox ? " neox" : " interleaved"));
    }
}

// A structured-pruned model keeps its heads' width but has fewer of them: attn_q is
// [n_head * head_dim, dim] with n_head * head_dim != dim (here 3 heads of 4 over dim 8).
TEST(TrainModel, PrunedHeadWidthGradientMatchesFiniteDifferences) {
  TrainShape shape = tiny_shape(false, false);
  shape.n_head = 3;
  shape.n_head_kv = 1;
  shape.key_length = 4;
  ASSERT_EQ(shape.q_width(), 12);
  const size_t n_seq = 1, seq = 4, vocab = 11;
  TransformerGradients<double> model(shape, n_seq, seq, nullptr);
  EXPECT_EQ(model.layout().find("blk.0.attn_q.weight").rows, 12u);
  EXPECT_EQ(model.layout().find("blk.0.attn_output.weight").cols, 12u);
  std::vector<double> params = tiny_parameters(model.layout(), 33);
  const std::vector<int32_t> tokens = {3, 1, 10, 5}, targets = {1, 10, 5, 0};
  const auto loss = [&] {
    model.forward(params.data(), tokens.data());
    return cross_entropy<double>(nullptr, model.logits(), targets.data(), nullptr, seq, vocab, 1.0);
  };
  model.forward(params.data(), tokens.data());
  cross_entropy<double>(nullptr, model.logits(), targets.data(), model.logits_gradient(), seq, vocab, 1.0);
  std::vector<double> grads(params.size(), 0.0);
  model.backward(params.data(), grads.data());
  expect_matches_finite_differences(params, loss, grads, "pruned heads");
}

// Low-rank pairs (jisu lowrank) are trained as their two matrices: W = A B in place of some
// linears of both layers, every A and B entry against finite differences.
TEST(TrainModel, LowRankPairGradientsMatchFiniteDifferences) {
  TrainShape shape = tiny_shape(false, false);
  shape.low_rank = {{"blk.0.attn_q.weight", 2}, {"blk.0.ffn_down.weight", 3}, {"blk.1.attn_output.weight", 1},
                    {"blk.1.ffn_gate.weight", 4}, {"blk.1.attn_k.weight", 2}};
  const size_t n_seq = 1, seq = 4, vocab = 11;
  TransformerGradients<double> model(shape, n_seq, seq, nullptr);
  EXPECT_EQ(model.layout().find("blk.0.ffn_down.weight.lowrank_a").cols, 3u);
  EXPECT_EQ(model.layout().find("blk.0.ffn_down.weight.lowrank_b").cols, 12u);
  EXPECT_THROW(model.layout().find("blk.0.ffn_down.weight"), Error);
  std::vector<double> params = tiny_parameters(model.layout(), 34);
  const std::vector<int32_t> tokens = {3, 1, 10, 5}, targets = {1, 10, 5, 0};
  const auto loss = [&] {
    model.forward(params.data(), tokens.data());
    return cross_entropy<double>(nullptr, model.logits(), targets.data(), nullptr, seq, vocab, 1.0);
  };
  model.forward(params.data(), tokens.data());
  cross_entropy<double>(nullptr, model.logits(), targets.data(), model.logits_gradient(), seq, vocab, 1.0);
  std::vector<double> grads(params.size(), 0.0);
  model.backward(params.data(), grads.data());
  expect_matches_finite_differences(params, loss, grads, "low-rank pairs");
  // A rank outside [1, min(rows, cols)] or a pair on no layer linear is refused.
  shape.low_rank = {{"blk.0.attn_q.weight", 9}};
  EXPECT_THROW(ParameterLayout{shape}, Error);
  shape.low_rank = {{"output.weight", 2}};
  EXPECT_THROW(ParameterLayout{shape}, Error);
}

TEST(TrainModel, DistillationGradientMatchesFiniteDifferences) {
  const TrainShape shape = tiny_shape(false, false);
  const size_t n_seq = 1, seq = 5, vocab = 11;
  TransformerGradients<double> model(shape, n_seq, seq, nullptr);
  std::vector<double> params = tiny_parameters(model.layout(), 30);
  const std::vector<int32_t> tokens = {1, 4, 9, 2, 7}, targets = {4, 9, 2, 7, 3};
  const auto teacher_d = random_values(seq * vocab, 31, 2.0);
  const std::vector<float> teacher(teacher_d.begin(), teacher_d.end());
  const auto loss = [&] {
    model.forward(params.data(), tokens.data());
    return distillation_loss<double>(nullptr, model.logits(), teacher.data(), targets.data(), nullptr, seq, vocab, 2.0,
                                     0.5, 1.0);
  };
  model.forward(params.data(), tokens.data());
  distillation_loss<double>(nullptr, model.logits(), teacher.data(), targets.data(), model.logits_gradient(), seq,
                            vocab, 2.0, 0.5, 1.0);
  std::vector<double> grads(params.size(), 0.0);
  model.backward(params.data(), grads.data());
  expect_matches_finite_differences(params, loss, grads, "distillation");
}

// The float path (register-tiled GEMM on the thread pool) computes what the double path does,
// on a shape whose widths exercise both the full tiles and the edges.
TEST(TrainModel, FloatPathOnThreadsAgreesWithDouble) {
  TrainShape shape;
  shape.n_vocab = 70;
  shape.dim = 96;
  shape.n_layer = 2;
  shape.n_head = 4;
  shape.n_head_kv = 2;
  shape.n_ff = 136;
  shape.context_length = 9;
  const size_t n_seq = 3, seq = 9, M = n_seq * seq;
  ThreadPool pool(2);
  TransformerGradients<double> reference(shape, n_seq, seq, nullptr);
  TransformerGradients<float> fast(shape, n_seq, seq, &pool);
  const std::vector<double> params = tiny_parameters(reference.layout(), 40);
  for (auto& v : const_cast<std::vector<double>&>(params)) v *= 0.3;
  const std::vector<float> params_f(params.begin(), params.end());
  std::vector<int32_t> tokens(M), targets(M);
  for (size_t i = 0; i < M; ++i) {
    tokens[i] = int32_t((i * 37) % 70);
    targets[i] = int32_t((i * 11 + 3) % 70);
  }
  reference.forward(params.data(), tokens.data());
  fast.forward(params_f.data(), tokens.data());
  cross_entropy<double>(nullptr, reference.logits(), targets.data(), reference.logits_gradient(), M, 70, 1.0 / M);
  cross_entropy<float>(&pool, fast.logits(), targets.data(), fast.logits_gradient(), M, 70, 1.0 / M);
  double logit_error = 0, logit_norm = 0;
  for (size_t i = 0; i < M * 70; ++i) {
    logit_error += std::pow(double(fast.logits()[i]) - reference.logits()[i], 2);
    logit_norm += std::pow(reference.logits()[i], 2);
  }
  EXPECT_LT(std::sqrt(logit_error / logit_norm), 1e-5);
  std::vector<double> grads(params.size(), 0.0);
  std::vector<float> grads_f(params.size(), 0.0f);
  reference.backward(params.data(), grads.data());
  fast.backward(params_f.data(), grads_f.data());
  for (const auto& tensor : reference.layout().tensors()) {
    double error = 0, norm = 0;
    for (size_t i = tensor.offset; i < tensor.offset + tensor.size(); ++i) {
      error += std::pow(double(grads_f[i]) - grads[i], 2);
      norm += grads[i] * grads[i];
    }
    EXPECT_LT(std::sqrt(error / std::max(norm, 1e-30)), 1e-4) << tensor.name;
  }
}

}  // namespace
}  // namespace jisu::train
