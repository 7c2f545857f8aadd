#include "quantize_target_bpw.h"

#include <cstdio>
#include <map>

#include "backends/weight_types.h"
#include "calibration_text.h"
#include "compress/mixed_precision.h"
#include "compress/quantization_mix.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "models/model.h"

namespace jisu::cli {
namespace {

std::vector<DType> parse_candidates(const std::string& list) {
  std::vector<DType> types;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    const std::string name = list.substr(begin, end - begin);
    const std::optional<DType> type = dtype_from_name(name);
    if (!type || !compress::quantize_supported(*type))
      throw Error("--candidates: unknown weight type '" + name + "'", "use a comma-separated list of " +
                                                                          supported_weight_type_names());
    if (std::find(types.begin(), types.end(), *type) == types.end()) types.push_back(*type);
    begin = end + 1;
  }
  return types;
}

// general.file_type for a mix: the file type whose base is the type covering most weights.
compress::FileType file_type_for(DType dominant) {
  for (const char* name : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M",
                           "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"}) {
    const std::optional<compress::FileType> type = compress::file_type_from_name(name);
    if (type && type->base == dominant) return *type;
  }
  return *compress::file_type_from_name("F32");
}

void print_plan(const compress::MixedPrecisionPlan& plan) {
  std::fprintf(stderr, "chosen types (KLD: measured with only that tensor quantized):\n");
  std::map<std::string, uint64_t> weights_per_type;
  for (const compress::TensorPlan& tensor : plan.tensors) {
    if (tensor.kept) {
      std::fprintf(stderr, "  %-36s %-6s (--keep) %6.3f bpw\n", tensor.name.c_str(),
                   std::string(dtype_name(tensor.input_type)).c_str(),
                   static_cast<double>(tensor.input_bits) / static_cast<double>(tensor.elements));
      weights_per_type[std::string(dtype_name(tensor.input_type)) + " (kept)"] += tensor.elements;
      continue;
    }
    const compress::CandidateMeasurement& chosen = tensor.candidates[tensor.chosen];
    std::fprintf(stderr, "  %-36s %-6s KLD %.6f %6.3f bpw\n", tensor.name.c_str(),
                 std::string(dtype_name(chosen.type)).c_str(), chosen.kld,
                 static_cast<double>(chosen.bits) / static_cast<double>(tensor.elements));
    weights_per_type[std::string(dtype_name(chosen.type))] += tensor.elements;
  }
  std::string mix;
  for (const auto& [type, weights] : weights_per_type) {
    char part[64];
    std::snprintf(part, sizeof part, "%s%s %.1f %%", mix.empty() ? "" : ", ", type.c_str(),
                  100.0 * static_cast<double>(weights) / static_cast<double>(plan.weights));
    mix += part;
  }
  std::fprintf(stderr,
               "mix: %s of the weights; %.4f bits per weight (budget %.4f), sum of per-tensor KLDs %.6f (%s); "
               "%zu evaluations in %.1f s\n",
               mix.c_str(), plan.bits_per_weight(),
               static_cast<double>(plan.budget_bits) / static_cast<double>(plan.weights), plan.predicted_kld,
               plan.exact_allocation ? "the least at this budget" : "within one size unit per tensor of the least",
               plan.evaluations, plan.seconds);
}

}  // namespace

void choose_types_for_target_bpw(const TargetBpwOptions& target, compress::QuantizeOptions& options, ThreadPool& pool) {
  if (target.calibration_text.empty())
    throw Error("--target-bpw needs --calib TEXT (calibration text to measure each tensor's sensitivity on)");
  if (target.calibration_chunks == 0) throw Error("--calib-chunks must be at least 1");
  compress::MixedPrecisionOptions mixed;
  mixed.target_bpw = target.target_bpw;
  mixed.candidates = parse_candidates(target.candidates.empty() ? compress::kDefaultCandidateTypes : target.candidates);
  mixed.keep = options.keep;
  mixed.imatrix = options.imatrix;
  mixed.allow_requantize = options.allow_requantize;
  const auto model = Model::load(options.input);
  CalibrationOptions calibration;
  calibration.text_file = target.calibration_text;
  calibration.n_ctx = target.calibration_ctx;
  calibration.max_chunks = target.calibration_chunks;
  CalibrationTokens tokens = tokenize_calibration_text(*model, calibration, /*spread=*/true);
  mixed.calibration_tokens = std::move(tokens.tokens);
  mixed.calibration_plan = tokens.plan;
  const compress::MixedPrecisionPlan plan = compress::plan_mixed_precision(*model, mixed, pool, stderr);
  print_plan(plan);
  options.chosen_types = plan.chosen_types();
  options.file_type = file_type_for(plan.dominant_type());
}

}  // namespace jisu::cli
