#include "compress/quantize_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "backends/cpu/quant_kernels.h"
#include "compress/codebook_learning.h"
#include "compress/importance_matrix.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "format/gguf_file.h"
#include "format/gguf_writer.h"
#include "format/weight_matrix.h"

namespace jisu::compress {
namespace {

bool is_float_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::BF16; }

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The two factors of a low-rank pair (format/weight_matrix.h): each an ordinary matrix.
bool is_low_rank_factor(const std::string& name) {
  return ends_with(name, kLowRankASuffix) || ends_with(name, kLowRankBSuffix);
}

using Clock = std::chrono::steady_clock;

}  // namespace

// Matrices named *.weight except norms, the MoE router (small, and routing is sensitive) and
// BERT's position and token-type embeddings (llama.cpp keeps those too; jisu reads them as float
// tables), as the GGUF ecosystem's quantizers do, and the factors of low-rank pairs (each keeps
// its name and shape, so the pair stays a pair). Pruned matrices in the jisu-only sparse types
// (already int8 values with block scales) are copied as they are, which keeps their sparse
// structure: prune, then quantize the rest.
bool is_quantizable(const gguf::TensorInfo& tensor) {
  return !is_jisu_only(tensor.type) && tensor.shape.size() >= 2 &&
         (ends_with(tensor.name, ".weight") || is_low_rank_factor(tensor.name)) &&
         tensor.name.find("norm") == std::string::npos && tensor.name.find("ffn_gate_inp") == std::string::npos &&
         tensor.name != "position_embd.weight" && tensor.name != "token_types.weight";
}

bool is_kept(const std::string& name, const std::vector<std::regex>& keep) {
  return std::any_of(keep.begin(), keep.end(), [&](const std::regex& pattern) { return std::regex_search(name, pattern); });
}

const ImportanceEntry* importance_for(const ImportanceMatrix& imatrix, const gguf::TensorInfo& tensor) {
  const ImportanceEntry* entry = imatrix.find(tensor.name);
  if (!entry) return nullptr;
  const uint64_t n_mat = tensor.element_count / (tensor.shape[0] * tensor.shape[1]);
  if (entry->cols != tensor.shape[0] || entry->n_mat != n_mat)
    throw Error("the importance matrix's " + tensor.name + " has " + std::to_string(entry->n_mat) + " x " +
                    std::to_string(entry->cols) + " values, the tensor " + std::to_string(n_mat) + " x " +
                    std::to_string(tensor.shape[0]),
                "the imatrix was made from another model");
  return entry;
}

void quantize_tensor(const gguf::TensorInfo& tensor, DType type, const ImportanceMatrix* imatrix,
                     const ImportanceEntry* importance, uint8_t* out, ThreadPool& pool, const int8_t* codebooks,
                     float* row_scales) {
  const size_t cols = tensor.shape[0], rows = tensor.rows(), rows_per_matrix = tensor.shape[1];
  const size_t out_row_bytes = row_bytes(type, cols);
  std::vector<std::vector<float>> weights;
  if (imatrix && importance)
    for (size_t m = 0; m < importance->n_mat; ++m) weights.push_back(imatrix->mean_squares(tensor.name, *importance, m, cols));
  std::vector<std::vector<float>> scratch(pool.size(), std::vector<float>(cols));
  pool.parallel_for(rows, [&](size_t row, size_t thread) {
    float* values = scratch[thread].data();
    cpu::dequantize_row(tensor.type, tensor.data + row * tensor.row_bytes(), values, cols);
    const float* row_weights = weights.empty() ? nullptr : weights[row / rows_per_matrix].data();
    const int8_t* codebook = codebooks ? codebooks + row / rows_per_matrix * kCodebookLevels : nullptr;
    quantize_row(type, values, out + row * out_row_bytes, cols, row_weights, codebook,
                 row_scales ? row_scales + row : nullptr);
  });
}

// cb4: one codebook per matrix (compress/codebook_learning.h), learned from at most
// kCodebookSampleBlocks blocks of 32 of evenly spaced rows (a 16-level codebook needs far fewer
// values than a large matrix holds; this bounds the time and memory of learning).
constexpr size_t kCodebookSampleBlocks = 8192;

static std::vector<int8_t> learn_codebooks(const gguf::TensorInfo& tensor, const std::vector<std::vector<float>>& importance,
                                    ThreadPool& pool) {
  const size_t cols = tensor.shape[0], rows_per_matrix = tensor.shape[1], n_mat = tensor.rows() / rows_per_matrix;
  const size_t sample_rows = std::clamp<size_t>(kCodebookSampleBlocks * 32 / cols, 1, rows_per_matrix);
  std::vector<int8_t> codebooks;
  std::vector<float> values(sample_rows * cols);
  for (size_t m = 0; m < n_mat; ++m) {
    for (size_t i = 0; i < sample_rows; ++i) {
      const size_t row = m * rows_per_matrix + i * rows_per_matrix / sample_rows;
      cpu::dequantize_row(tensor.type, tensor.data + row * tensor.row_bytes(), values.data() + i * cols, cols);
    }
    const Codebook levels = learn_codebook(values, cols, importance.empty() ? nullptr : importance[m].data(), pool);
    codebooks.insert(codebooks.end(), levels.begin(), levels.end());
  }
  return codebooks;
}

QuantizeReport quantize_model(const QuantizeOptions& options, ThreadPool& pool, std::FILE* log) {
  const auto input = gguf::GgufFile::open(options.input);
  return quantize_model(*input, options, pool, log);
}

QuantizeReport quantize_model(const gguf::GgufFile& input, const QuantizeOptions& options, ThreadPool& pool,
                              std::FILE* log) {
  const auto start = Clock::now();
  const std::string arch = input.get_string("general.architecture").value_or("");
  const auto n_layer = static_cast<int32_t>(input.get_int(arch + ".block_count").value_or(0));
  std::optional<ImportanceMatrix> imatrix;
  if (!options.imatrix.empty()) imatrix = ImportanceMatrix::read(options.imatrix);
  const QuantizationMix mix(options.file_type, options.mix, n_layer);

  struct Plan {
    const gguf::TensorInfo* tensor;
    DType type;
    const ImportanceEntry* importance;
    bool kept = false;
    std::shared_ptr<const uint8_t> bytes;  // already quantized (ChosenType)
    std::vector<int8_t> codebooks;         // cb4: 16 levels per matrix
    std::vector<float> row_scales;         // i8_row: one per row, filled while the tensor is written
  };
  std::vector<Plan> plans;
  std::vector<std::string> missing_importance;
  uint64_t total_weights = 0;
  QuantizeReport report;
  report.input_bytes = input.file_size();
  for (const gguf::TensorInfo& tensor : input.tensors()) {
    Plan plan{&tensor, tensor.type, nullptr, false, nullptr, {}, {}};
    if (is_jisu_only(tensor.type))
      std::fprintf(log, "keeping %s as %s (jisu-only storage)\n", tensor.name.c_str(),
                   std::string(dtype_name(tensor.type)).c_str());
    const auto chosen = options.chosen_types.find(tensor.name);
    if (is_quantizable(tensor) && is_kept(tensor.name, options.keep)) {
      plan.kept = true;
      report.weights += tensor.element_count;
      std::fprintf(log, "keeping %s as %s (--keep)\n", tensor.name.c_str(), std::string(dtype_name(tensor.type)).c_str());
    } else if (is_quantizable(tensor)) {
      plan.type = chosen != options.chosen_types.end() ? chosen->second.type : mix.type_for(tensor.name, tensor.shape[0]);
      if (chosen != options.chosen_types.end()) plan.bytes = chosen->second.bytes;
      if (!is_float_type(tensor.type) && !options.allow_requantize)
        throw Error("tensor " + tensor.name + " is already quantized (" + std::string(dtype_name(tensor.type)) + ")",
                    "quantize from an F32/F16/BF16 file, or pass --allow-requantize (quality suffers)");
      if (!dtype_traits(static_cast<uint32_t>(tensor.type)) || !quantize_supported(plan.type))
        throw Error("cannot quantize tensor " + tensor.name + " to " + std::string(dtype_name(plan.type)));
      if (imatrix && traits(plan.type).is_quantized) {
        plan.importance = importance_for(*imatrix, tensor);
        if (plan.importance) {
          ++report.imatrix_entries_used;
        } else if (tensor.name != "token_embd.weight" && !is_low_rank_factor(tensor.name)) {
          // token_embd is a lookup table (no linear input to measure: its entry comes only from
          // `jisu imatrix --embedding-importance`); a factor's input is not the one the
          // importance matrix saw for its pair.
          missing_importance.push_back(tensor.name);
        }
      }
      total_weights += tensor.element_count;
      report.weights += tensor.element_count;
    }
    plans.push_back(std::move(plan));
  }
  for (Plan& plan : plans) {
    if (plan.type == kJisuI8Row && is_quantizable(*plan.tensor) && !plan.kept && !plan.bytes) plan.row_scales.resize(plan.tensor->rows());
    if (plan.type != kJisuCb4 || !is_quantizable(*plan.tensor) || plan.kept || plan.bytes) continue;
    std::vector<std::vector<float>> importance;
    if (plan.importance)
      for (size_t m = 0; m < plan.importance->n_mat; ++m)
        importance.push_back(imatrix->mean_squares(plan.tensor->name, *plan.importance, m, plan.tensor->shape[0]));
    plan.codebooks = learn_codebooks(*plan.tensor, importance, pool);
  }

  if (imatrix && report.imatrix_entries_used == 0)
    throw Error("the importance matrix '" + options.imatrix + "' has no entry for any tensor of this model",
                "the imatrix was made from another model");
  for (const std::string& name : missing_importance)
    std::fprintf(log, "warning: the importance matrix has no entry for %s; quantized without\n", name.c_str());

  gguf::GgufWriter writer(input.version() >= 3 ? 3 : input.version());
  writer.copy_metadata(input);
  writer.set_uint32("general.file_type", options.file_type.number);
  if (traits(options.file_type.base).is_quantized) writer.set_uint32("general.quantization_version", 2);
  if (imatrix) {
    writer.set_string("quantize.imatrix.file", options.imatrix);
    if (!imatrix->datasets.empty()) writer.set_string("quantize.imatrix.dataset", imatrix->datasets.front());
    writer.set_int32("quantize.imatrix.entries_count", static_cast<int32_t>(imatrix->entries.size()));
    writer.set_int32("quantize.imatrix.chunks_count", static_cast<int32_t>(imatrix->chunk_count));
  }

  uint64_t done_weights = 0;
  size_t index = 0;
  const auto n_quantized = static_cast<size_t>(
      std::count_if(plans.begin(), plans.end(), [](const Plan& p) { return is_quantizable(*p.tensor) && !p.kept; }));
  for (Plan& plan : plans) {
    const gguf::TensorInfo& tensor = *plan.tensor;
    if (plan.kept) {
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
      continue;
    }
    if (plan.bytes) {
      writer.add_tensor(tensor.name, plan.type, tensor.shape, plan.bytes.get());
      done_weights += tensor.element_count;
      std::fprintf(log, "[%3zu/%3zu] %-36s %-5s -> %-6s (quantized while measuring)\n", ++index, n_quantized,
                   tensor.name.c_str(), std::string(dtype_name(tensor.type)).c_str(),
                   std::string(dtype_name(plan.type)).c_str());
      continue;
    }
    if (!is_quantizable(tensor)) {
      if (options.others_to_f32 && tensor.type != DType::F32 && is_float_type(tensor.type)) {
        writer.add_tensor(tensor.name, DType::F32, tensor.shape, [&tensor](uint8_t* out, size_t) {
          const size_t cols = tensor.shape[0];
          for (size_t row = 0; row < tensor.rows(); ++row)
            cpu::dequantize_row(tensor.type, tensor.data + row * tensor.row_bytes(),
                                reinterpret_cast<float*>(out) + row * cols, cols);
        });
      } else {
        writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
      }
      continue;
    }
    writer.add_tensor(tensor.name, plan.type, tensor.shape, [&, &plan = plan, position = ++index](uint8_t* out, size_t) {
      const gguf::TensorInfo& t = *plan.tensor;
      const size_t cols = t.shape[0], rows = t.rows();
      quantize_tensor(t, plan.type, imatrix ? &*imatrix : nullptr, plan.importance, out, pool,
                      plan.codebooks.empty() ? nullptr : plan.codebooks.data(),
                      plan.row_scales.empty() ? nullptr : plan.row_scales.data());
      done_weights += t.element_count;
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double eta = done_weights ? elapsed * static_cast<double>(total_weights - done_weights) /
                                            static_cast<double>(done_weights)
                                      : 0.0;
      std::fprintf(log, "[%3zu/%3zu] %-36s %-5s -> %-6s %6zu x %-6zu%s  %.1f s, ETA %.1f s\n", position, n_quantized,
                   t.name.c_str(), std::string(dtype_name(t.type)).c_str(), std::string(dtype_name(plan.type)).c_str(),
                   cols, rows, plan.importance ? " imatrix" : "", elapsed, eta);
      std::fflush(log);
    });
    if (!plan.codebooks.empty()) {  // cb4: the levels as "<name>.codebook", I8 [16] or [16, n_mat]
      std::vector<uint64_t> shape = {kCodebookLevels};
      if (plan.codebooks.size() > kCodebookLevels) shape.push_back(plan.codebooks.size() / kCodebookLevels);
      writer.add_tensor(tensor.name + std::string(kCodebookSuffix), DType::I8, shape, plan.codebooks.data());
    }
    if (!plan.row_scales.empty()) {  // i8_row: "<name>.row_scale", F32 [rows] or [rows, n_mat]
      // Written after the matrix, whose filler computes them (the writer fills in order).
      const std::vector<uint64_t> shape(tensor.shape.begin() + 1, tensor.shape.end());
      writer.add_tensor(tensor.name + std::string(kRowScaleSuffix), DType::F32, shape, [&scales = plan.row_scales](uint8_t* out, size_t size) {
        std::memcpy(out, scales.data(), size);
      });
    }
  }
  writer.write(options.output);
  report.output_bytes = std::filesystem::file_size(options.output);
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace jisu::compress
