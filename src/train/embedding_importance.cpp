#include "train/embedding_importance.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/train_ops.h"
#include "train/transformer_gradients.h"

namespace jisu::train {

using compress::ChunkPlan;
using compress::ImportanceEntry;

ImportanceEntry embedding_gradient_squares(const train::TrainShape& shape, const float* params,
                                           std::span<const int32_t> tokens, const ChunkPlan& plan, size_t batch_tokens,
                                           ThreadPool& pool, std::FILE* log) {
  const auto n_ctx = static_cast<size_t>(plan.n_ctx), dim = static_cast<size_t>(shape.dim);
  const auto vocab = static_cast<size_t>(shape.n_vocab);
  if (plan.n_chunks == 0 || n_ctx < 2) throw Error("the embedding importance needs at least one chunk of 2 tokens");
  if (tokens.size() < plan.n_chunks * n_ctx) throw Error("the calibration tokens do not fill the planned chunks");
  const size_t n_seq = std::clamp<size_t>(batch_tokens / n_ctx, 1, plan.n_chunks);
  train::TransformerGradients<float> model(shape, n_seq, n_ctx, &pool);
  // backward() also adds the parameters' gradient; it is not needed, only the per-position rows.
  std::vector<float> unused_parameter_gradient(model.layout().total());
  std::vector<int32_t> inputs(n_seq * n_ctx), targets(n_seq * n_ctx);
  ImportanceEntry entry;
  entry.cols = dim;
  entry.sum2.assign(dim, 0.0);
  entry.counts.assign(1, 0.0);
  for (size_t first = 0; first < plan.n_chunks; first += n_seq) {
    const size_t used = std::min(n_seq, plan.n_chunks - first);
    for (size_t s = 0; s < n_seq; ++s) {
      // A last, partial pass fills its spare sequences with the last chunk, without targets:
      // their loss and gradient are 0, and they are not counted.
      const int32_t* chunk = tokens.data() + (first + std::min(s, used - 1)) * n_ctx;
      for (size_t p = 0; p < n_ctx; ++p) {
        inputs[s * n_ctx + p] = p == 0 && plan.bos >= 0 ? plan.bos : chunk[p];
        targets[s * n_ctx + p] = s < used && p + 1 < n_ctx ? chunk[p + 1] : -1;
      }
    }
    model.forward(params, inputs.data());
    const double loss = train::cross_entropy<float>(&pool, model.logits(), targets.data(), model.logits_gradient(),
                                                    n_seq * n_ctx, vocab, 1.0);
    if (!std::isfinite(loss)) throw Error("the loss of calibration chunk " + std::to_string(first + 1) + " is not finite");
    model.backward(params, unused_parameter_gradient.data());
    const float* gradient = model.embedding_output_gradient();
    for (size_t s = 0; s < used; ++s)
      for (size_t p = 0; p + 1 < n_ctx; ++p) {
        const float* row = gradient + (s * n_ctx + p) * dim;
        for (size_t j = 0; j < dim; ++j) entry.sum2[j] += static_cast<double>(row[j]) * row[j];
      }
    entry.counts[0] += static_cast<double>(used * (n_ctx - 1));
    if (log) std::fprintf(log, "[%zu]%.4f,", first + used, std::exp(loss / static_cast<double>(used * (n_ctx - 1))));
  }
  if (log) std::fprintf(log, "\n");
  return entry;
}

namespace {
double column_mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double value : values) sum += value;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}
}  // namespace

void floor_embedding_importance(ImportanceEntry& entry) {
  if (entry.counts.empty()) entry.counts.assign(1, 0.0);
  double& count = entry.counts[0];
  double mean = column_mean(entry.sum2);
  if (!(count > 0) || !std::isfinite(mean) || !(mean / count >= 1e-30)) {
    // Too small for float (or nothing measured): rescale to a mean square of 1 per position,
    // or, with no measurable column at all, weigh every column 1 (as without an entry).
    const bool measurable = count > 0 && std::isfinite(mean) && mean > 0;
    if (!(count > 0)) count = 1;
    for (double& value : entry.sum2) value = measurable ? value * (count / mean) : count;
    mean = column_mean(entry.sum2);
  }
  for (double& value : entry.sum2) value = std::max(value, kEmbeddingImportanceFloor * mean);
}

EmbeddingImportance embedding_importance(const std::string& model_path, std::span<const int32_t> tokens,
                                         const ChunkPlan& plan, size_t batch_tokens, ThreadPool& pool,
                                         std::FILE* log) {
  EmbeddingImportance result;
  train::LoadedParameters loaded;
  try {
    loaded = train::read_parameters(model_path);
  } catch (const Error& error) {
    result.skipped = std::string("the trainer has no backward pass for this model: ") + error.what();
    return result;
  }
  if (loaded.shape.tied_output) {
    result.skipped = "the output layer is tied to the embedding (its entry, the output's input, has the name)";
    return result;
  }
  ImportanceEntry entry = embedding_gradient_squares(loaded.shape, loaded.params.data(), tokens, plan, batch_tokens,
                                                     pool, log);
  floor_embedding_importance(entry);
  result.entry = std::move(entry);
  return result;
}

}  // namespace jisu::train
