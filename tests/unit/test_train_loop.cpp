// The trainer end to end, in process: the loss of a fixture model on its tokens against the
// cross-entropy of its float64 reference logits; AdamW, the schedule and clipping against the
// formulas written out; whole training steps (accumulation, clipping, AdamW) against a double
// computation by hand; checkpoints the engine runs; resume = uninterrupted; bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <random>

#include "core/error.h"
#include "fixtures/model_runner.h"
#include "format/gguf_writer.h"
#include "temp_dir.h"
#include "test_support.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/train_ops.h"
#include "train/trainer.h"
#include "train/transformer_gradients.h"

namespace jisu::train {
namespace {

std::vector<int32_t> json_int_array(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\"");
  const size_t open = json.find('[', at), close = json.find(']', open);
  std::vector<int32_t> values;
  std::string item;
  for (size_t i = open + 1; i <= close; ++i) {
    if (json[i] == ',' || json[i] == ']') {
      if (!item.empty()) values.push_back(std::stoi(item));
      item.clear();
    } else if (json[i] != ' ') {
      item += json[i];
    }
  }
  return values;
}

// The training loss of tiny-llama-s1.f32 on its 48 tokens against the cross-entropy of the
// fixture's float64 logits (computed here, in double, from the file alone).
TEST(TrainLoss, FixtureModelLossEqualsCrossEntropyOfExactLogits) {
  const std::string base = test::fixtures_dir() + "/models/tiny-llama-s1.f32";
  const std::vector<char> json_bytes = test::read_bytes(base + ".json");
  const std::vector<int32_t> tokens = json_int_array(std::string(json_bytes.begin(), json_bytes.end()), "tokens");
  const std::vector<float> exact = test::read_floats(base + ".exact.logits");
  ASSERT_EQ(tokens.size(), 48u);
  const size_t n = tokens.size(), vocab = 512;
  ASSERT_EQ(exact.size(), n * vocab);

  double expected = 0;
  for (size_t p = 0; p + 1 < n; ++p) {
    double max_logit = exact[p * vocab];
    for (size_t i = 0; i < vocab; ++i) max_logit = std::max(max_logit, double(exact[p * vocab + i]));
    double sum = 0;
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(double(exact[p * vocab + i]) - max_logit);
    expected += std::log(sum) + max_logit - double(exact[p * vocab + size_t(tokens[p + 1])]);
  }
  expected /= double(n - 1);

  LoadedParameters loaded = read_parameters(base + ".gguf");
  std::vector<int32_t> targets(tokens.begin() + 1, tokens.end());
  targets.push_back(-1);  // the last position predicts nothing known
  ThreadPool pool(2);
  TransformerGradients<float> model(loaded.shape, 1, n, &pool);
  model.forward(loaded.params.data(), tokens.data());
  const double loss =
      cross_entropy<float>(&pool, model.logits(), targets.data(), model.logits_gradient(), n, vocab, 1.0) / double(n - 1);
  EXPECT_NEAR(loss, expected, 1e-5 * expected);
  const std::vector<float> logits(model.logits(), model.logits() + n * vocab);
  EXPECT_LT(test::relative_l2_error(logits, exact), 1e-4);
}

TEST(TrainOptimizer, AdamWStepsMatchTheUpdateWrittenOut) {
  const std::vector<float> g1 = {0.5f, -0.25f, 1e-3f, 0.0f, -2.0f}, g2 = {0.1f, 0.3f, -1e-3f, 0.0f, 1.0f};
  std::vector<float> p = {1.0f, -0.5f, 0.25f, 2.0f, 0.0f}, m(5, 0.0f), v(5, 0.0f);
  const std::vector<float> p0 = p;
  AdamWOptions options;
  options.beta1 = 0.9;
  options.beta2 = 0.95;
  options.eps = 1e-8;
  options.weight_decay = 0.1;
  const double lr1 = 1e-2, lr2 = 5e-3;
  adamw_step(nullptr, p.data(), g1.data(), m.data(), v.data(), 5, 1, lr1, options);
  adamw_step(nullptr, p.data(), g2.data(), m.data(), v.data(), 5, 2, lr2, options);
  for (size_t i = 0; i < 5; ++i) {
    double param = p0[i], mi = 0, vi = 0;
    const double grads[2] = {g1[i], g2[i]}, lrs[2] = {lr1, lr2};
    for (int t = 1; t <= 2; ++t) {
      const double g = grads[t - 1], lr = lrs[t - 1];
      param -= lr * 0.1 * param;  // decoupled weight decay
      mi = 0.9 * mi + 0.1 * g;
      vi = 0.95 * vi + 0.05 * g * g;
      const double m_hat = mi / (1 - std::pow(0.9, t)), v_hat = vi / (1 - std::pow(0.95, t));
      param -= lr * m_hat / (std::sqrt(v_hat) + 1e-8);
    }
    EXPECT_NEAR(p[i], param, 1e-6) << i;
    EXPECT_NEAR(m[i], mi, 1e-7) << i;
    EXPECT_NEAR(v[i], vi, 1e-7) << i;
  }
}

TEST(TrainOptimizer, ScheduleIsWarmupThenCosineToTenPercent) {
  const LearningRateSchedule schedule{2e-3, 50, 766, 0.1};
  EXPECT_DOUBLE_EQ(learning_rate_at(schedule, 1), 2e-3 / 50);
  EXPECT_DOUBLE_EQ(learning_rate_at(schedule, 25), 2e-3 * 25 / 50);
  EXPECT_DOUBLE_EQ(learning_rate_at(schedule, 50), 2e-3);
  for (const int64_t step : {51, 300, 600, 766}) {
    const double f = double(step) / 766.0;
    EXPECT_NEAR(learning_rate_at(schedule, step), 2e-3 * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * f))),
                1e-15);
  }
  EXPECT_NEAR(learning_rate_at(schedule, 766), 2e-4, 1e-15);
}

TEST(TrainOptimizer, ClippingScalesToTheMaximumNorm) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_NEAR(clip_gradient_norm(nullptr, g.data(), 2, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
  std::vector<float> small = {0.3f, 0.4f};
  EXPECT_NEAR(clip_gradient_norm(nullptr, small.data(), 2, 1.0), 0.5, 1e-7);
  EXPECT_EQ(small[0], 0.3f);  // under the limit: untouched
}

TrainShape tiny_shape() {
  TrainShape shape;
  shape.n_vocab = 13;
  shape.dim = 8;
  shape.n_layer = 2;
  shape.n_head = 2;
  shape.n_head_kv = 1;
  shape.n_ff = 12;
  shape.context_length = 6;
  return shape;
}

TrainOptions tiny_options() {
  TrainOptions options;
  options.steps = 2;
  options.batch = 2;
  options.seq_len = 6;
  options.grad_accum = 2;
  options.learning_rate = 1e-2;
  options.warmup = 2;
  options.clip = 0.5;
  options.seed = 5;
  options.eval_every = 0;
  options.save_every = 0;
  options.log_every = 0;
  return options;
}

std::vector<int32_t> tiny_text(size_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::vector<int32_t> tokens(n);
  for (auto& token : tokens) token = int32_t(generator() % 13);
  return tokens;
}

// Two whole optimizer steps (2 micro-batches each, clipping active) against the same steps
// computed by hand: gradients by the double model, clipping and AdamW written out.
TEST(TrainStep, WholeStepsMatchAHandComputation) {
  const TrainShape shape = tiny_shape();
  TrainOptions options = tiny_options();
  // Adam divides by sqrt(v): with the default eps a gradient of 1e-8 moves a parameter as far as
  // one of 1e-2, so float rounding of tiny gradients would dominate the comparison. An eps above
  // the gradients' rounding makes the step a smooth function of the gradient (the default-eps
  // update is checked element by element in AdamWStepsMatchTheUpdateWrittenOut).
  options.adamw.eps = 1e-4;
  const ParameterLayout layout(shape);
  std::vector<float> params(layout.total());
  initialize_parameters(layout, 3, params.data());
  for (auto& value : params) value *= 5.0f;  // gradients well above float rounding
  TrainData data;
  data.train = tiny_text(200, 9);

  std::vector<double> expected(params.begin(), params.end()), m(params.size(), 0.0), v(params.size(), 0.0);
  TransformerGradients<double> reference(shape, options.batch, options.seq_len, nullptr);
  for (int64_t step = 1; step <= 2; ++step) {
    std::vector<double> grads(params.size(), 0.0);
    for (size_t micro = 0; micro < 2; ++micro) {
      std::vector<int32_t> inputs, targets;
      for (const size_t offset : window_offsets(options.seed, step, micro, options.batch, data.train.size(), 6))
        for (size_t p = 0; p < 6; ++p) {
          inputs.push_back(data.train[offset + p]);
          targets.push_back(data.train[offset + p + 1]);
        }
      reference.forward(expected.data(), inputs.data());
      cross_entropy<double>(nullptr, reference.logits(), targets.data(), reference.logits_gradient(), 12, 13,
                            1.0 / 24.0);
      reference.backward(expected.data(), grads.data());
    }
    double norm = 0;
    for (const double g : grads) norm += g * g;
    norm = std::sqrt(norm);
    ASSERT_GT(norm, options.clip) << "the test means to exercise clipping";
    for (auto& g : grads) g *= options.clip / (norm + 1e-6);
    const double lr = step == 1 ? 0.5e-2 : 1e-2;  // warm-up over 2 steps
    for (size_t i = 0; i < expected.size(); ++i) {
      expected[i] -= lr * 0.1 * expected[i];
      m[i] = 0.9 * m[i] + 0.1 * grads[i];
      v[i] = 0.95 * v[i] + 0.05 * grads[i] * grads[i];
      expected[i] -= lr * (m[i] / (1 - std::pow(0.9, step))) / (std::sqrt(v[i] / (1 - std::pow(0.95, step))) + 1e-4);
    }
  }

  ThreadPool pool(2);
  OptimizerState optimizer;
  int saves = 0;
  std::FILE* log = std::tmpfile();
  run_training(shape, params, optimizer, data, options, pool, nullptr, [&](int64_t) { ++saves; }, log);
  std::fclose(log);
  EXPECT_EQ(optimizer.step, 2);
  EXPECT_EQ(saves, 1);
  double max_error = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    max_error = std::max(max_error, std::abs(double(params[i]) - expected[i]));
  }
  EXPECT_LT(max_error, 2e-5);
}

// A checkpoint is a GGUF the inference engine runs: its logits equal the trainer's own
// forward (double) of the same parameters, and a written-then-read checkpoint is the same model.
TEST(TrainCheckpoint, EngineRunsTheCheckpointAndResumeContinuesExactly) {
  test::TempDir dir;
  const std::string tokenizer_path = std::string(JISU_SOURCE_DIR) + "/models/demo-shakespeare.q8_0.gguf";
  const auto tokenizer = gguf::GgufFile::open(tokenizer_path);
  TrainShape shape;
  shape.n_vocab = vocabulary_size(*tokenizer);
  shape.dim = 64;
  shape.n_layer = 2;
  shape.n_head = 4;
  shape.n_head_kv = 2;
  shape.n_ff = 96;
  shape.context_length = 32;
  const ParameterLayout layout(shape);
  std::vector<float> params(layout.total());
  initialize_parameters(layout, 11, params.data());
  for (auto& value : params) value *= 5.0f;
  const std::string path = dir.file("model.gguf");
  write_checkpoint(path, shape, params.data(), *tokenizer, 7);

  const std::vector<int32_t> tokens = {1, 50, 300, 7, 1000, 42, 9, 512, 77, 3};
  TransformerGradients<double> reference(shape, 1, tokens.size(), nullptr);
  const std::vector<double> params_d(params.begin(), params.end());
  reference.forward(params_d.data(), tokens.data());
  test::ModelRunner runner(path, 2);
  const std::vector<float> engine = runner.one_batch(tokens);
  const std::vector<float> expected(reference.logits(), reference.logits() + engine.size());
  EXPECT_LT(test::relative_l2_error(engine, expected), 1e-5);

  const LoadedParameters loaded = read_parameters(path);
  EXPECT_EQ(loaded.step, 7);
  EXPECT_EQ(loaded.params, params);
  EXPECT_TRUE(same_vocabulary(*gguf::GgufFile::open(path), *tokenizer));

  // Uninterrupted 4 steps vs 2 steps, checkpoint, read back, 2 more: bit-identical.
  TrainOptions options = tiny_options();
  options.steps = 4;
  options.warmup = 1;  // steps 2..4 on the cosine, which depends on the total
  options.seq_len = 8;
  options.batch = 3;
  TrainData data;
  data.train.resize(400);
  for (size_t i = 0; i < data.train.size(); ++i) data.train[i] = int32_t((i * 7919) % 1024);
  ThreadPool pool(2);
  std::FILE* log = std::tmpfile();
  std::vector<float> straight = params;
  OptimizerState straight_state;
  run_training(shape, straight, straight_state, data, options, pool, nullptr, [](int64_t) {}, log);

  std::vector<float> first = params;
  OptimizerState first_state;
  TrainOptions half = options;
  half.stop_at = 2;  // interrupted: the schedule is still the 4-step one
  const std::string half_path = dir.file("half.gguf");
  run_training(shape, first, first_state, data, half, pool, nullptr, [&](int64_t step) {
    write_checkpoint(half_path, shape, first.data(), *tokenizer, step);
    write_optimizer_state(half_path, first_state);
  }, log);
  LoadedParameters resumed = read_parameters(half_path);
  OptimizerState resumed_state = read_optimizer_state(half_path, resumed.params.size());
  EXPECT_EQ(resumed_state.step, 2);
  run_training(resumed.shape, resumed.params, resumed_state, data, options, pool, nullptr, [](int64_t) {}, log);
  std::fclose(log);
  EXPECT_EQ(resumed.params, straight);
  EXPECT_EQ(resumed_state.m, straight_state.m);
  EXPECT_EQ(resumed_state.v, straight_state.v);
}

TEST(TrainBadInput, TextShorterThanOneBatchNaNLossAndMissingVocabulary) {
  TrainOptions options = tiny_options();
  TrainData data;
  data.train = tiny_text(options.batch * options.seq_len, 1);  // one token short
  try {
    check_training_data(data, options);
    ADD_FAILURE() << "accepted a text shorter than one batch";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("fewer than one batch"), std::string::npos) << error.what();
  }

  // A NaN in the parameters: the loss is NaN at the first step; nothing is saved.
  const TrainShape shape = tiny_shape();
  const ParameterLayout layout(shape);
  std::vector<float> params(layout.total());
  initialize_parameters(layout, 3, params.data());
  params[layout.layers()[0].wq.a] = NAN;
  data.train = tiny_text(200, 2);
  ThreadPool pool(1);
  OptimizerState optimizer;
  int saves = 0;
  std::FILE* log = std::tmpfile();
  try {
    run_training(shape, params, optimizer, data, options, pool, nullptr, [&](int64_t) { ++saves; }, log);
    ADD_FAILURE() << "trained through a NaN loss";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("NaN"), std::string::npos) << error.what();
  }
  std::fclose(log);
  EXPECT_EQ(saves, 0);

  // A batch too large for memory is refused before anything is allocated.
  TrainShape demo = tiny_shape();
  demo.n_vocab = 32000;
  demo.dim = 4096;
  EXPECT_THROW(TransformerGradients<float>(demo, 4096, 8192, nullptr), Error);

  test::TempDir dir;
  gguf::GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  writer.write(dir.file("no_vocabulary.gguf"));
  EXPECT_THROW(require_vocabulary(*gguf::GgufFile::open(dir.file("no_vocabulary.gguf"))), Error);
  // An optimizer state of another size is refused.
  OptimizerState state;
  state.step = 1;
  state.m.assign(10, 0.0f);
  state.v.assign(10, 0.0f);
  write_optimizer_state(dir.file("x.gguf"), state);
  EXPECT_THROW(read_optimizer_state(dir.file("x.gguf"), 11), Error);
  EXPECT_NO_THROW(read_optimizer_state(dir.file("x.gguf"), 10));
}

}  // namespace
}  // namespace jisu::train
