#include "compress/mixed_precision.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "compress/bit_allocation.h"
#include "compress/importance_matrix.h"
#include "compress/quantization_mix.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "format/gguf_file.h"

namespace jisu::compress {
namespace {

using Clock = std::chrono::steady_clock;

bool is_float_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::BF16; }

std::string bpw_text(double bits_per_weight) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", bits_per_weight);
  return text;
}

// Memory for a quantized candidate. Its views are marked as not in a file mapping
// (replace_matrix), so a backend that repacks them keeps these pages.
std::shared_ptr<uint8_t> weight_buffer(size_t size) {
  return std::shared_ptr<uint8_t>(new uint8_t[size], std::default_delete<uint8_t[]>());
}

// Every matrix view of the model, for swapping one tensor's storage.
template <typename Visit>
void for_each_matrix(ModelWeights& weights, Visit&& visit) {
  visit(weights.token_embedding);
  visit(weights.output);
  for (LayerWeights& layer : weights.layers)
    for (WeightMatrix* matrix : {&layer.wq, &layer.wk, &layer.wv, &layer.wqkv, &layer.wo, &layer.ffn_gate, &layer.ffn_up,
                                 &layer.ffn_gate_up, &layer.ffn_down, &layer.ffn_router, &layer.experts_gate,
                                 &layer.experts_up, &layer.experts_down})
      visit(*matrix);
}

// A copy of `weights` in which every view of tensor `name` (the tied output too, a low-rank
// pair's factor) reads `data` as `type`. Returns false when the forward pass does not use it.
bool replace_matrix(ModelWeights& weights, const std::string& name, DType type, const uint8_t* data) {
  bool replaced = false;
  auto replace_plain = [&](WeightMatrix& matrix) {
    if (matrix.name != name || matrix.low_rank) return;
    if (matrix.is_column_shard()) throw Error("internal: a tensor-parallel shard cannot be measured");
    matrix.type = type;
    matrix.data = data;
    matrix.in_file_mapping = false;  // heap bytes: releasing their pages would zero them
    matrix.row_bytes = row_bytes(type, static_cast<size_t>(matrix.cols));
    replaced = true;
  };
  for_each_matrix(weights, [&](WeightMatrix& matrix) {
    if (!matrix.low_rank) return replace_plain(matrix);
    if (matrix.low_rank->a.name != name && matrix.low_rank->b.name != name) return;
    auto factors = std::make_shared<LowRankFactors>(*matrix.low_rank);
    replace_plain(factors->a);
    replace_plain(factors->b);
    matrix.type = factors->a.type;
    matrix.low_rank = std::move(factors);
  });
  return replaced;
}

// The input model's next-token log-probabilities and probabilities at every scored position.
struct BaseDistributions {
  size_t n_vocab = 0, scored_per_chunk = 0;
  std::vector<float> log_p, p;
};

BaseDistributions base_distributions(const Model& model, const MixedPrecisionOptions& options, ThreadPool& pool) {
  BaseDistributions base;
  const ChunkPlan& plan = options.calibration_plan;
  base.n_vocab = static_cast<size_t>(model.config().n_vocab);
  base.scored_per_chunk = plan.scored_per_chunk();
  base.log_p.resize(plan.n_chunks * base.scored_per_chunk * base.n_vocab);
  base.p.resize(base.log_p.size());
  evaluate_chunks(model, pool, options.calibration_tokens, plan, {}, [&](const ScoredChunk& chunk) {
    for (size_t r = 0; r < chunk.targets.size(); ++r) {
      const std::span<const float> row(chunk.logits + r * base.n_vocab, base.n_vocab);
      const LogSoftmax normaliser = log_softmax(row);
      const size_t offset = (chunk.index * base.scored_per_chunk + r) * base.n_vocab;
      for (size_t i = 0; i < base.n_vocab; ++i) {
        const double log_p = normaliser.log_probability(row[i]);
        base.log_p[offset + i] = static_cast<float>(log_p);
        base.p[offset + i] = static_cast<float>(std::exp(log_p));
      }
    }
  });
  return base;
}

// Mean over the scored positions of KL(input model || model with `weights`).
double mean_kld(const Model& model, const ModelWeights& weights, const MixedPrecisionOptions& options,
                const BaseDistributions& base, ThreadPool& pool) {
  double sum = 0;
  size_t rows = 0;
  evaluate_chunks(model.config(), weights, pool, options.calibration_tokens, options.calibration_plan, {},
                  [&](const ScoredChunk& chunk) {
                    for (size_t r = 0; r < chunk.targets.size(); ++r) {
                      const std::span<const float> row(chunk.logits + r * base.n_vocab, base.n_vocab);
                      const LogSoftmax normaliser = log_softmax(row);
                      const size_t offset = (chunk.index * base.scored_per_chunk + r) * base.n_vocab;
                      double kld = 0;
                      for (size_t i = 0; i < base.n_vocab; ++i)
                        kld += base.p[offset + i] * (base.log_p[offset + i] - normaliser.log_probability(row[i]));
                      sum += kld;
                      ++rows;
                    }
                  });
  return rows ? sum / static_cast<double>(rows) : 0.0;
}

}  // namespace

double type_bits_per_weight(DType type) {
  const DTypeTraits& t = traits(type);
  return 8.0 * static_cast<double>(t.block_bytes) / static_cast<double>(t.block_elements);
}

std::map<std::string, ChosenType> MixedPrecisionPlan::chosen_types() const {
  std::map<std::string, ChosenType> chosen;
  for (const TensorPlan& tensor : tensors)
    if (!tensor.kept)
      chosen[tensor.name] = {tensor.candidates[tensor.chosen].type, tensor.candidates[tensor.chosen].bytes};
  return chosen;
}

DType MixedPrecisionPlan::dominant_type() const {
  std::map<DType, uint64_t> weights_per_type;
  for (const TensorPlan& tensor : tensors)
    if (!tensor.kept) weights_per_type[tensor.candidates[tensor.chosen].type] += tensor.elements;
  if (weights_per_type.empty()) return DType::F32;
  return std::max_element(weights_per_type.begin(), weights_per_type.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

MixedPrecisionPlan plan_mixed_precision(const Model& model, const MixedPrecisionOptions& options, ThreadPool& pool,
                                        std::FILE* log) {
  const auto start = Clock::now();
  if (options.candidates.empty()) throw Error("--candidates lists no type");
  for (const DType type : options.candidates)
    if (!quantize_supported(type)) throw Error("--candidates: cannot quantize to " + std::string(dtype_name(type)));
  for (const DType type : options.candidates)
    if (is_jisu_only(type))  // their companion tensors (codebook, row scales) are not measured here
      throw Error("--candidates: " + std::string(dtype_name(type)) + " is a jisu-only type",
                  "--target-bpw chooses among standard GGUF types");
  const ChunkPlan& chunks = options.calibration_plan;
  if (chunks.n_chunks == 0 || options.calibration_tokens.size() < chunks.n_chunks * static_cast<size_t>(chunks.n_ctx))
    throw Error("internal: the calibration tokens do not fill the chunk plan");
  std::optional<ImportanceMatrix> imatrix;
  if (!options.imatrix.empty()) imatrix = ImportanceMatrix::read(options.imatrix);

  // 1. The quantizable tensors and the types each can take (K-quants fall back for short rows).
  MixedPrecisionPlan plan;
  uint64_t input_bits = 0, kept_bits = 0, smallest_bits = 0;
  std::vector<const gguf::TensorInfo*> infos;
  for (const gguf::TensorInfo& info : model.file().tensors()) {
    if (!is_quantizable(info)) continue;
    TensorPlan tensor;
    tensor.name = info.name;
    tensor.input_type = info.type;
    tensor.elements = info.element_count;
    tensor.input_bits = 8 * info.byte_size;
    tensor.kept = is_kept(info.name, options.keep);
    plan.weights += tensor.elements;
    input_bits += tensor.input_bits;
    if (tensor.kept) {
      kept_bits += tensor.input_bits;
    } else {
      if (!is_float_type(info.type) && !options.allow_requantize)
        throw Error("tensor " + info.name + " is already quantized (" + std::string(dtype_name(info.type)) + ")",
                    "quantize from an F32/F16/BF16 file, or pass --allow-requantize (quality suffers)");
      std::vector<DType> types;
      for (const DType candidate : options.candidates) {
        const std::optional<DType> fitted = row_fallback(candidate, info.shape[0]);
        if (fitted && std::find(types.begin(), types.end(), *fitted) == types.end()) types.push_back(*fitted);
      }
      if (types.empty())
        throw Error("tensor " + info.name + " has rows of " + std::to_string(info.shape[0]) +
                    " values, which no candidate type can hold", "add q8_0 or f16 to --candidates");
      uint64_t smallest = UINT64_MAX;
      for (const DType type : types) {
        const uint64_t bits = 8 * row_bytes(type, info.shape[0]) * info.rows();
        tensor.candidates.push_back({type, bits, 0.0, nullptr});
        smallest = std::min(smallest, bits);
      }
      smallest_bits += smallest;
    }
    plan.tensors.push_back(std::move(tensor));
    infos.push_back(&info);
  }
  if (plan.weights == 0) throw Error("the model has no tensor to quantize");

  // 2. The budget against the candidates, the input and --keep, before any work.
  const double input_bpw = static_cast<double>(input_bits) / static_cast<double>(plan.weights);
  double smallest_bpw = 1e9;
  DType smallest_type = options.candidates.front();
  for (const DType type : options.candidates)
    if (type_bits_per_weight(type) < smallest_bpw) {
      smallest_bpw = type_bits_per_weight(type);
      smallest_type = type;
    }
  if (!(options.target_bpw >= smallest_bpw))
    throw Error("--target-bpw " + bpw_text(options.target_bpw) + " is below the smallest candidate's " +
                    bpw_text(smallest_bpw) + " bits per weight (" + std::string(dtype_name(smallest_type)) + ")",
                "give a larger budget or add a smaller type to --candidates");
  if (options.target_bpw > input_bpw)
    throw Error("--target-bpw " + bpw_text(options.target_bpw) + " is above the input's " + bpw_text(input_bpw) +
                " bits per weight", "nothing to quantize at that budget");
  plan.budget_bits = static_cast<uint64_t>(std::floor(options.target_bpw * static_cast<double>(plan.weights)));
  if (kept_bits + smallest_bits > plan.budget_bits)
    throw Error("--target-bpw " + bpw_text(options.target_bpw) + " cannot be met: with the --keep tensors at their input type " +
                    "the smallest candidates reach " +
                    bpw_text(static_cast<double>(kept_bits + smallest_bits) / static_cast<double>(plan.weights)) +
                    " bits per weight",
                "give a larger budget or keep fewer tensors");

  // 3. Sensitivities: each tensor alone in each candidate type.
  std::fprintf(log, "mixed precision: %zu tensors, %zu candidate types, %zu calibration chunks of %d tokens\n",
               plan.tensors.size(), options.candidates.size(), chunks.n_chunks, chunks.n_ctx);
  const BaseDistributions base = base_distributions(model, options, pool);
  size_t total_evaluations = 0;
  for (const TensorPlan& tensor : plan.tensors) total_evaluations += tensor.candidates.size();
  size_t bytes_held = 0;
  for (size_t index = 0; index < plan.tensors.size(); ++index) {
    TensorPlan& tensor = plan.tensors[index];
    if (tensor.kept) continue;
    const gguf::TensorInfo& info = *infos[index];
    std::string line;
    for (CandidateMeasurement& candidate : tensor.candidates) {
      const size_t size = candidate.bits / 8;
      std::shared_ptr<uint8_t> bytes = weight_buffer(size);
      const ImportanceEntry* importance =
          imatrix && traits(candidate.type).is_quantized ? importance_for(*imatrix, info) : nullptr;
      quantize_tensor(info, candidate.type, imatrix ? &*imatrix : nullptr, importance, bytes.get(), pool);
      ModelWeights weights = model.weights();
      if (replace_matrix(weights, tensor.name, candidate.type, bytes.get()))
        candidate.kld = mean_kld(model, weights, options, base, pool);
      ++plan.evaluations;
      if (bytes_held + size <= options.max_bytes_held) {
        bytes_held += size;
        candidate.bytes = std::move(bytes);
      }
      char text[48];
      std::snprintf(text, sizeof text, " %s %.6f", std::string(dtype_name(candidate.type)).c_str(), candidate.kld);
      line += text;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::fprintf(log, "[%3zu/%3zu] %-32s KLD:%s  %.1f s, ETA %.1f s\n", index + 1, plan.tensors.size(),
                 tensor.name.c_str(), line.c_str(), elapsed,
                 elapsed * static_cast<double>(total_evaluations - plan.evaluations) /
                     static_cast<double>(plan.evaluations));
    std::fflush(log);
  }

  // 4. The allocation.
  std::vector<std::vector<AllocationOption>> items;
  std::vector<size_t> item_tensor;
  for (size_t index = 0; index < plan.tensors.size(); ++index) {
    const TensorPlan& tensor = plan.tensors[index];
    if (tensor.kept) continue;
    std::vector<AllocationOption> item_options;
    for (const CandidateMeasurement& candidate : tensor.candidates) item_options.push_back({candidate.bits, candidate.kld});
    items.push_back(std::move(item_options));
    item_tensor.push_back(index);
  }
  const std::optional<Allocation> allocation = allocate_bits(items, plan.budget_bits - kept_bits);
  if (!allocation) throw Error("internal: the allocation found no choice within the checked budget");
  plan.bits = kept_bits + allocation->bits;
  plan.predicted_kld = allocation->cost;
  plan.exact_allocation = allocation->exact;
  for (size_t item = 0; item < items.size(); ++item) {
    TensorPlan& tensor = plan.tensors[item_tensor[item]];
    tensor.chosen = allocation->choice[item];
    for (size_t c = 0; c < tensor.candidates.size(); ++c)
      if (c != tensor.chosen) tensor.candidates[c].bytes.reset();  // only the chosen bytes go on
  }
  plan.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return plan;
}

}  // namespace jisu::compress
