#include "compress/low_rank_model.h"

#include <Eigen/Core>
#include <chrono>
#include <exception>
#include <mutex>
#include <regex>

#include "backends/cpu/quant_kernels.h"
#include "compress/low_rank_factorization.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "format/gguf_writer.h"
#include "format/weight_matrix.h"

namespace jisu::compress {
namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A matrix a linear layer multiplies by (not a lookup table, a norm or the MoE router).
bool can_factor(const gguf::TensorInfo& tensor) {
  return tensor.shape.size() == 2 && ends_with(tensor.name, ".weight") && tensor.name != "token_embd.weight" &&
         tensor.name.find("norm") == std::string::npos && tensor.name.find("ffn_gate_inp") == std::string::npos;
}

// The tensor's values in double, row-major rows x cols.
std::vector<double> read_matrix(const gguf::TensorInfo& tensor) {
  const size_t cols = tensor.shape[0], rows = tensor.shape[1];
  std::vector<double> values(rows * cols);
  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; ++r) {
    cpu::dequantize_row(tensor.type, tensor.data + r * tensor.row_bytes(), row.data(), cols);
    std::copy(row.begin(), row.end(), values.begin() + static_cast<ptrdiff_t>(r * cols));
  }
  return values;
}

// Rows of `values` (cols each) converted to `type` into out.
void write_rows(DType type, const float* values, size_t rows, size_t cols, uint8_t* out) {
  const size_t out_row_bytes = row_bytes(type, cols);
  for (size_t r = 0; r < rows; ++r) quantize_row(type, values + r * cols, out + r * out_row_bytes, cols);
}

using Clock = std::chrono::steady_clock;

}  // namespace

std::vector<LowRankTarget> plan_low_rank(const gguf::GgufFile& input, const LowRankOptions& options) {
  if (!(options.ratio > 0 && options.ratio <= 1))
    throw Error("--ratio " + std::to_string(options.ratio) + " is outside (0, 1]",
                "the ratio is the fraction of each weight's parameters kept, e.g. 0.5");
  if (options.rank_multiple < 1) throw Error("--rank-multiple must be at least 1");
  if (!quantize_supported(options.factor_type))
    throw Error("cannot write factors of type " + std::string(dtype_name(options.factor_type)));
  std::regex pattern;
  try {
    pattern = std::regex(options.tensors, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error("--tensors '" + options.tensors + "' is not a valid regular expression: " + e.what());
  }
  std::vector<LowRankTarget> targets;
  for (const gguf::TensorInfo& tensor : input.tensors()) {
    if (!can_factor(tensor) || !std::regex_search(tensor.name, pattern)) continue;
    if (!dtype_traits(static_cast<uint32_t>(tensor.type)))
      throw Error("tensor " + tensor.name + " has a type jisu cannot read");
    const auto rows = static_cast<int64_t>(tensor.shape[1]), cols = static_cast<int64_t>(tensor.shape[0]);
    const int64_t rank = low_rank_for_ratio(rows, cols, options.ratio, options.rank_multiple);
    if (rank == 0)
      throw Error("--ratio " + std::to_string(options.ratio) + " leaves tensor " + tensor.name + " (" +
                      std::to_string(rows) + " x " + std::to_string(cols) + ") a rank of zero (ranks are multiples of " +
                      std::to_string(options.rank_multiple) + ")",
                  "raise --ratio, lower --rank-multiple or leave the tensor out with --tensors");
    targets.push_back({&tensor, rows, cols, rank});
  }
  if (targets.empty())
    throw Error("--tensors '" + options.tensors + "' matches no weight matrix of '" + input.path() + "'",
                "eligible: 2-D *.weight tensors other than token_embd, norms and the MoE router");
  return targets;
}

LowRankReport write_low_rank_model(const gguf::GgufFile& input, const std::vector<LowRankTarget>& targets,
                                   const LowRankOptions& options, const GramCollector* grams, ThreadPool& pool,
                                   std::FILE* log) {
  const auto start = Clock::now();
  LowRankReport report;
  std::vector<const GramEntry*> target_grams(targets.size(), nullptr);
  if (grams) {
    for (size_t i = 0; i < targets.size(); ++i) {
      target_grams[i] = grams->find(targets[i].name());
      if (!target_grams[i])
        throw Error("the calibration text never reached " + targets[i].name(), "is this weight used by the model?");
    }
  }

  // Every pair first (one tensor per task, the SVDs are independent), then one sequential write.
  std::vector<LowRankPair> pairs(targets.size());
  std::mutex log_mutex;
  size_t done = 0;
  std::exception_ptr failure;  // the pool's tasks must not throw: the first error is rethrown after
  pool.parallel_for(targets.size(), [&](size_t i, size_t) {
    const LowRankTarget& target = targets[i];
    try {
      const std::vector<double> w = read_matrix(*target.tensor);
      pairs[i] = factorize_low_rank(w, target.rows, target.cols, target.rank,
                                    target_grams[i] ? std::span<const double>(target_grams[i]->sums)
                                                    : std::span<const double>());
    } catch (...) {
      const std::lock_guard lock(log_mutex);
      if (!failure) failure = std::current_exception();
      return;
    }
    const std::lock_guard lock(log_mutex);
    ++done;
    std::fprintf(log, "[%zu/%zu] %-28s %6lld x %-6lld rank %-5lld%s\n", done, targets.size(), target.name().c_str(),
                 static_cast<long long>(target.rows), static_cast<long long>(target.cols),
                 static_cast<long long>(target.rank),
                 pairs[i].ridge > 0 ? (" (ridge " + std::to_string(pairs[i].ridge) + ")").c_str() : "");
  });
  if (failure) std::rethrow_exception(failure);

  gguf::GgufWriter writer(input.version() >= 3 ? 3 : input.version());
  writer.copy_metadata(input);
  if (!options.dense_output) {
    writer.set_float32("jisu.lowrank.ratio", static_cast<float>(options.ratio));
    writer.set_bool("jisu.lowrank.whitened", grams != nullptr);
  }
  size_t next = 0;
  for (const gguf::TensorInfo& tensor : input.tensors()) {
    if (next == targets.size() || targets[next].tensor != &tensor) {
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
      continue;
    }
    const LowRankPair& pair = pairs[next++];
    const auto rows = static_cast<size_t>(pair.rows), cols = static_cast<size_t>(pair.cols);
    const auto rank = static_cast<size_t>(pair.rank);
    report.params_before += rows * cols;
    if (options.dense_output) {
      report.params_after += rows * cols;
      writer.add_tensor(tensor.name, DType::F32, tensor.shape, [&pair, rows, cols, rank](uint8_t* out, size_t) {
        using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        const auto n_rows = static_cast<Eigen::Index>(rows), n_cols = static_cast<Eigen::Index>(cols);
        const auto n_rank = static_cast<Eigen::Index>(rank);
        const Eigen::Map<const RowMajorF> a(pair.a.data(), n_rows, n_rank), b(pair.b.data(), n_rank, n_cols);
        Eigen::Map<RowMajorF>(reinterpret_cast<float*>(out), n_rows, n_cols) =
            (a.cast<double>() * b.cast<double>()).cast<float>();
      });
      continue;
    }
    report.params_after += rank * (rows + cols);
    const DType type = options.factor_type;
    writer.add_tensor(tensor.name + std::string(kLowRankASuffix), type, {rank, rows},
                      [&pair, type, rows, rank](uint8_t* out, size_t) { write_rows(type, pair.a.data(), rows, rank, out); });
    writer.add_tensor(tensor.name + std::string(kLowRankBSuffix), type, {cols, rank},
                      [&pair, type, rank, cols](uint8_t* out, size_t) { write_rows(type, pair.b.data(), rank, cols, out); });
  }
  writer.write(options.output);
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace jisu::compress
