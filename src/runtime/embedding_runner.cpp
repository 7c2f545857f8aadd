#include "runtime/embedding_runner.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace jisu {
namespace {

void normalize_l2(float* vector, size_t dims) {
  double squares = 0;
  for (size_t i = 0; i < dims; ++i) squares += double(vector[i]) * vector[i];
  if (squares == 0) return;
  const double inverse = 1.0 / std::sqrt(squares);
  for (size_t i = 0; i < dims; ++i) vector[i] = static_cast<float>(vector[i] * inverse);
}

EmbeddingPooling from_model(Pooling pooling) {
  switch (pooling) {
    case Pooling::None: return EmbeddingPooling::None;
    case Pooling::Mean: return EmbeddingPooling::Mean;
    case Pooling::Cls: return EmbeddingPooling::Cls;
    case Pooling::Last: return EmbeddingPooling::Last;
  }
  return EmbeddingPooling::Mean;
}

}  // namespace

bool parse_embedding_pooling(std::string_view text, EmbeddingPooling& pooling) {
  for (EmbeddingPooling candidate :
       {EmbeddingPooling::None, EmbeddingPooling::Mean, EmbeddingPooling::Cls, EmbeddingPooling::Last})
    if (text == embedding_pooling_name(candidate)) {
      pooling = candidate;
      return true;
    }
  return false;
}

std::string_view embedding_pooling_name(EmbeddingPooling pooling) {
  switch (pooling) {
    case EmbeddingPooling::ModelDefault: return "model";
    case EmbeddingPooling::None: return "none";
    case EmbeddingPooling::Mean: return "mean";
    case EmbeddingPooling::Cls: return "cls";
    case EmbeddingPooling::Last: return "last";
  }
  return "?";
}

void pool_embedding(EmbeddingPooling pooling, const float* rows, size_t n_rows, size_t dims, bool normalize,
                    std::vector<float>& out) {
  JISU_ASSERT(n_rows > 0);
  switch (pooling) {
    case EmbeddingPooling::None:
      out.assign(rows, rows + n_rows * dims);
      if (normalize)
        for (size_t r = 0; r < n_rows; ++r) normalize_l2(out.data() + r * dims, dims);
      return;
    case EmbeddingPooling::Mean: {
      std::vector<double> sum(dims, 0.0);
      for (size_t r = 0; r < n_rows; ++r)
        for (size_t i = 0; i < dims; ++i) sum[i] += rows[r * dims + i];
      out.resize(dims);
      for (size_t i = 0; i < dims; ++i) out[i] = static_cast<float>(sum[i] / double(n_rows));
      break;
    }
    case EmbeddingPooling::Cls: out.assign(rows, rows + dims); break;
    case EmbeddingPooling::Last:
    case EmbeddingPooling::ModelDefault: out.assign(rows + (n_rows - 1) * dims, rows + n_rows * dims); break;
  }
  if (normalize) normalize_l2(out.data(), dims);
}

EmbeddingRunner::EmbeddingRunner(const ModelConfig& config, ForwardPass& forward, KvCache& cache)
    : config_(config), forward_(forward), cache_(cache) {
  max_input_tokens_ = std::min({config.context_length, cache.context_length(), forward.max_batch_tokens()});
  batch_.reserve(static_cast<size_t>(forward.max_batch_tokens()));
  hidden_.resize(static_cast<size_t>(forward.max_batch_tokens()) * static_cast<size_t>(config.n_embd));
}

EmbeddingResult EmbeddingRunner::embed(const std::vector<std::vector<int32_t>>& inputs, const EmbeddingOptions& options) {
  EmbeddingResult result;
  const auto fail = [&](std::string message) {
    result.error = std::move(message);
    return result;
  };
  if (inputs.empty()) return fail("no input to embed");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t>& input = inputs[i];
    const std::string which = "input " + std::to_string(i);
    if (input.empty()) return fail(which + " is empty");
    if (input.size() > static_cast<size_t>(max_input_tokens_))
      return fail(which + " has " + std::to_string(input.size()) + " tokens; at most " +
                  std::to_string(max_input_tokens_) + " fit (the model's positions, the context and the batch size bound it)");
    for (int32_t token : input)
      if (token < 0 || token >= config_.n_vocab)
        return fail(which + " has token id " + std::to_string(token) + ", outside the vocabulary [0, " +
                    std::to_string(config_.n_vocab) + ")");
  }
  result.pooling = options.pooling == EmbeddingPooling::ModelDefault ? from_model(config_.pooling) : options.pooling;
  result.dimensions = config_.n_embd;
  result.embeddings.resize(inputs.size());
  const auto dims = static_cast<size_t>(config_.n_embd);
  const auto max_tokens = static_cast<size_t>(forward_.max_batch_tokens());
  const auto slots = static_cast<size_t>(cache_.max_sequences());

  size_t next = 0;
  while (next < inputs.size()) {
    // Whole inputs, one sequence slot each, while both the batch and the slots have room.
    batch_.clear();
    const size_t first = next;
    while (next < inputs.size() && next - first < slots && batch_.size() + inputs[next].size() <= max_tokens) {
      const auto slot = static_cast<int32_t>(next - first);
      for (size_t p = 0; p < inputs[next].size(); ++p)
        batch_.add(inputs[next][p], static_cast<int32_t>(p), slot, false);
      ++next;
    }
    try {
      forward_.forward_hidden(batch_, cache_, hidden_.data());
    } catch (...) {
      for (size_t i = first; i < next; ++i) cache_.release(static_cast<int32_t>(i - first));
      throw;
    }
    size_t row = 0;
    for (size_t i = first; i < next; ++i) {
      const size_t n_rows = inputs[i].size();
      pool_embedding(result.pooling, hidden_.data() + row * dims, n_rows, dims, options.normalize, result.embeddings[i]);
      row += n_rows;
      result.prompt_tokens += static_cast<int32_t>(n_rows);
      cache_.release(static_cast<int32_t>(i - first));
    }
    ++result.forward_passes;
  }
  result.ok = true;
  return result;
}

}  // namespace jisu
