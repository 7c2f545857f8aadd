// The token embedding's importance (train/embedding_importance.h): the gradient at the
// embedding output, per position, against central finite differences of the loss in double on
// the tiny llama fixture; the float pass over chunks (threads, a partial last pass) against the
// double gradients' squares; the floor; the models it skips.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train/embedding_importance.h"
#include "format/gguf_file.h"
#include "temp_dir.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/train_ops.h"
#include "train/transformer_gradients.h"

namespace jisu::train {
namespace {

using compress::ChunkPlan;
using compress::ImportanceEntry;
using compress::plan_chunks;

std::string fixture(const std::string& name) { return test::fixtures_dir() + "/models/" + name; }

// The first tokens of the fixture's 48 (BOS first): 213 occurs at positions 2 and 6, 75 at 7 and 9.
const std::vector<int32_t> kFixtureTokens = {1,   81, 213, 287, 262, 424, 213, 75,  50,  75,  21,  475,
                                             139, 200, 215, 26,  286, 260, 207, 189, 276, 215, 442, 497,
                                             12,  111, 377, 80,  333, 459, 267, 199, 495, 115, 442, 212,
                                             34,  361, 484, 468, 106, 333, 392, 456, 11,  92,  439, 92};

// Next-token targets of one chunk: position p predicts token p + 1; the last has none.
std::vector<int32_t> next_token_targets(const std::vector<int32_t>& tokens) {
  std::vector<int32_t> targets(tokens.begin() + 1, tokens.end());
  targets.push_back(-1);
  return targets;
}

// The summed cross-entropy of one sequence in double, and (with `gradient`) d loss / d
// (embedding output) per position.
double chunk_loss(train::TransformerGradients<double>& model, const std::vector<double>& params,
                  const std::vector<int32_t>& tokens, std::vector<double>* gradient) {
  const std::vector<int32_t> targets = next_token_targets(tokens);
  model.forward(params.data(), tokens.data());
  const size_t vocab = model.layout().find("output.weight").rows;
  const double loss = train::cross_entropy<double>(nullptr, model.logits(), targets.data(),
                                                   gradient ? model.logits_gradient() : nullptr, tokens.size(), vocab,
                                                   1.0);
  if (gradient) {
    std::vector<double> unused(params.size(), 0.0);
    model.backward(params.data(), unused.data());
    const size_t n = tokens.size() * model.layout().find("token_embd.weight").cols;
    gradient->assign(model.embedding_output_gradient(), model.embedding_output_gradient() + n);
  }
  return loss;
}

// Perturbing one occurrence alone: the token at `position` is moved to a spare id whose row is
// a copy of its row, so only that position's embedding moves when the copy's entries do (the
// model is untied: the spare row is read by nothing else). The analytic gradient must be the
// occurrence's, not the table row's sum over occurrences (which differs for 213 and 75).
TEST(EmbeddingImportance, EmbeddingOutputGradientMatchesFiniteDifferences) {
  const train::LoadedParameters loaded = train::read_parameters(fixture("tiny-llama-s1.f32.gguf"));
  ASSERT_FALSE(loaded.shape.tied_output);
  const std::vector<int32_t> tokens(kFixtureTokens.begin(), kFixtureTokens.begin() + 16);
  const size_t dim = size_t(loaded.shape.dim), n = tokens.size();
  train::TransformerGradients<double> model(loaded.shape, 1, n, nullptr);
  const std::vector<double> params(loaded.params.begin(), loaded.params.end());
  std::vector<double> analytic;
  chunk_loss(model, params, tokens, &analytic);
  // The table's gradient, to show that the check tells the two apart.
  std::vector<double> table(params.size(), 0.0);
  model.backward(params.data(), table.data());

  const size_t embd = model.layout().token_embd();
  const int32_t spare = 3;  // not among the tokens
  const double h = 1e-5;
  size_t checked = 0;
  double max_gradient = 0;
  for (const size_t position : {size_t(0), size_t(2), size_t(9), size_t(14)}) {
    std::vector<double> moved = params;
    std::copy_n(params.begin() + embd + size_t(tokens[position]) * dim, dim, moved.begin() + embd + spare * dim);
    std::vector<int32_t> moved_tokens = tokens;
    moved_tokens[position] = spare;
    bool differs_from_table = false;
    for (size_t j = 0; j < dim; j += 17) {
      double& value = moved[embd + spare * dim + j];
      const double saved = value;
      value = saved + h;
      const double up = chunk_loss(model, moved, moved_tokens, nullptr);
      value = saved - h;
      const double down = chunk_loss(model, moved, moved_tokens, nullptr);
      value = saved;
      const double numeric = (up - down) / (2 * h);
      const double g = analytic[position * dim + j];
      // Central differences in double: truncation ~h² and rounding ~1e-16·|L|/h (|L| ≈ 100):
      // both under 1e-9, so 1e-7 absolute + 1e-6 relative leaves margin and still fails a
      // gradient that is off by one occurrence's share (order 1e-2 to 1).
      EXPECT_NEAR(g, numeric, 1e-7 + 1e-6 * std::abs(numeric)) << "position " << position << " column " << j;
      max_gradient = std::max(max_gradient, std::abs(numeric));
      const double row_sum = table[embd + size_t(tokens[position]) * dim + j];
      differs_from_table |= std::abs(row_sum - numeric) > 1e-3 * (1 + std::abs(numeric));
      ++checked;
    }
    if (position == 2 || position == 9) {
      EXPECT_TRUE(differs_from_table) << "position " << position;
    }
  }
  EXPECT_EQ(checked, 4u * 16u);
  EXPECT_GT(max_gradient, 1e-3);  // the check compares non-trivial values
}

// The float pass (2 threads, 2 chunks per pass: passes of 2 and 1 with a padded sequence)
// against Σ of the double gradients' squares, chunk by chunk with BOS at position 0.
TEST(EmbeddingImportance, GradientSquaresMatchTheDoublePath) {
  const train::LoadedParameters loaded = train::read_parameters(fixture("tiny-llama-s1.f32.gguf"));
  const size_t n_ctx = 16, dim = size_t(loaded.shape.dim);
  const ChunkPlan plan = plan_chunks(kFixtureTokens.size(), int32_t(n_ctx), 0, 1);
  ASSERT_EQ(plan.n_chunks, 3u);
  ThreadPool pool(2);
  const ImportanceEntry entry = embedding_gradient_squares(loaded.shape, loaded.params.data(), kFixtureTokens, plan,
                                                           2 * n_ctx, pool, nullptr);
  ASSERT_EQ(entry.cols, dim);
  ASSERT_EQ(entry.n_mat, 1u);
  ASSERT_EQ(entry.counts.size(), 1u);
  EXPECT_EQ(entry.counts[0], 3.0 * double(n_ctx - 1));

  train::TransformerGradients<double> model(loaded.shape, 1, n_ctx, nullptr);
  const std::vector<double> params(loaded.params.begin(), loaded.params.end());
  std::vector<double> expected(dim, 0.0), gradient;
  for (size_t c = 0; c < plan.n_chunks; ++c) {
    std::vector<int32_t> chunk(kFixtureTokens.begin() + c * n_ctx, kFixtureTokens.begin() + (c + 1) * n_ctx);
    chunk[0] = 1;
    chunk_loss(model, params, chunk, &gradient);
    for (size_t p = 0; p + 1 < n_ctx; ++p)
      for (size_t j = 0; j < dim; ++j) expected[j] += gradient[p * dim + j] * gradient[p * dim + j];
  }
  // float32 through 3 layers: the training path agrees with double to ~1e-5 relative
  // (test_train_gradients.cpp), a square doubles that; 1e-4 per column.
  for (size_t j = 0; j < dim; ++j)
    EXPECT_NEAR(entry.sum2[j], expected[j], 1e-4 * expected[j]) << "column " << j;
}

TEST(EmbeddingImportance, FloorKeepsEveryColumnWeighted) {
  ImportanceEntry entry;
  entry.cols = 4;
  entry.sum2 = {0.0, 4.0, 8.0, 1e-9};
  entry.counts = {10.0};
  floor_embedding_importance(entry);
  const double mean = (0.0 + 4.0 + 8.0 + 1e-9) / 4;
  EXPECT_DOUBLE_EQ(entry.sum2[0], kEmbeddingImportanceFloor * mean);
  EXPECT_DOUBLE_EQ(entry.sum2[1], 4.0);
  EXPECT_DOUBLE_EQ(entry.sum2[3], kEmbeddingImportanceFloor * mean);
  EXPECT_EQ(entry.counts[0], 10.0);

  // Below float's comfortable range: rescaled to a mean square of 1 per position, ratios kept.
  entry.sum2 = {1e-40, 3e-40, 0.0, 0.0};
  floor_embedding_importance(entry);
  EXPECT_NEAR(entry.sum2[0] / entry.counts[0], 1.0, 1e-12);
  EXPECT_NEAR(entry.sum2[1] / entry.counts[0], 3.0, 1e-12);
  EXPECT_NEAR(entry.sum2[2] / entry.counts[0], kEmbeddingImportanceFloor, 1e-12);

  // Nothing measured: every column the same.
  entry.sum2 = {0.0, 0.0, 0.0, 0.0};
  entry.counts = {0.0};
  floor_embedding_importance(entry);
  for (const double value : entry.sum2) EXPECT_EQ(value, 1.0);
  EXPECT_EQ(entry.counts[0], 1.0);
}

TEST(EmbeddingImportance, SkipsModelsWithoutABackwardPassOrWithATiedOutput) {
  const std::vector<int32_t> tokens(kFixtureTokens.begin(), kFixtureTokens.begin() + 32);
  const ChunkPlan plan = plan_chunks(tokens.size(), 16, 0, 1);
  ThreadPool pool(1);
  for (const char* name : {"tiny-qwen2-s1.f32.gguf", "tiny-gemma-s1.f32.gguf", "tiny-moe-s1.f32.gguf"}) {
    const EmbeddingImportance result = embedding_importance(fixture(name), tokens, plan, 32, pool, nullptr);
    EXPECT_FALSE(result.entry) << name;
    EXPECT_NE(result.skipped.find("no backward pass"), std::string::npos) << name << ": " << result.skipped;
  }
  // A tied llama checkpoint: the trainer runs it, but the name belongs to the output's entry.
  test::TempDir dir;
  const auto tokenizer = gguf::GgufFile::open(fixture("tiny-llama-s1.f32.gguf"));
  const train::TrainShape shape{.n_vocab = train::vocabulary_size(*tokenizer), .dim = 32, .n_layer = 1, .n_head = 2,
                                .n_head_kv = 1, .n_ff = 48, .context_length = 16, .tied_output = true, .low_rank = {}};
  const train::ParameterLayout layout(shape);
  std::vector<float> params(layout.total());
  train::initialize_parameters(layout, 5, params.data());
  train::write_checkpoint(dir.file("tied.gguf"), shape, params.data(), *tokenizer, 0);
  const EmbeddingImportance tied = embedding_importance(dir.file("tied.gguf"), tokens, plan, 32, pool, nullptr);
  EXPECT_FALSE(tied.entry);
  EXPECT_NE(tied.skipped.find("tied"), std::string::npos) << tied.skipped;
  // The untied fixture gets its entry, floored, over 2 chunks of 15 targets.
  const EmbeddingImportance untied =
      embedding_importance(fixture("tiny-llama-s1.f32.gguf"), tokens, plan, 32, pool, nullptr);
  ASSERT_TRUE(untied.entry);
  EXPECT_EQ(untied.entry->cols, 256u);
  EXPECT_EQ(untied.entry->counts[0], 30.0);
}

}  // namespace
}  // namespace jisu::train
