#include "calibration_text.h"

#include <cstdio>
#include <fstream>
#include <iterator>

#include "compress/chunked_evaluation.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {

CalibrationTokens tokenize_calibration_text(const Model& model, const CalibrationOptions& options, bool spread) {
  std::ifstream in(options.text_file, std::ios::binary);
  if (!in) throw Error("cannot open the calibration text '" + options.text_file + "'");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto tokenizer = Tokenizer::from_gguf(model.file());
  CalibrationTokens result;
  result.tokens = tokenizer->encode(text, true, false);
  const std::vector<int32_t> bos_probe = tokenizer->encode("", true, false);
  const bool adds_bos = !bos_probe.empty() && bos_probe.front() == tokenizer->bos_id();
  const int32_t bos = adds_bos ? tokenizer->bos_id() : -1;
  try {
    result.plan = compress::plan_chunks(result.tokens.size(), options.n_ctx, spread ? 0 : options.max_chunks, bos);
  } catch (const Error& e) {
    throw Error("the calibration text '" + options.text_file + "' is too short: " + e.what(), e.hint());
  }
  if (spread && options.max_chunks > 0 && options.max_chunks < result.plan.n_chunks) {
    const auto n_ctx = static_cast<size_t>(options.n_ctx);
    const size_t available = result.plan.n_chunks;
    std::vector<int32_t> chosen;
    for (size_t i = 0; i < options.max_chunks; ++i) {
      const size_t chunk = i * available / options.max_chunks;
      chosen.insert(chosen.end(), result.tokens.begin() + static_cast<std::ptrdiff_t>(chunk * n_ctx),
                    result.tokens.begin() + static_cast<std::ptrdiff_t>((chunk + 1) * n_ctx));
    }
    result.tokens = std::move(chosen);
    result.plan.n_chunks = options.max_chunks;
  }
  return result;
}

size_t observe_calibration_text(const Model& model, ThreadPool& pool, const CalibrationOptions& options,
                                LinearObserver& observer) {
  const CalibrationTokens calibration = tokenize_calibration_text(model, options, /*spread=*/false);
  const std::vector<int32_t>& tokens = calibration.tokens;
  const compress::ChunkPlan& plan = calibration.plan;
  compress::EvaluationOptions evaluation;
  evaluation.all_logits = true;  // the output layer sees every position too
  evaluation.linear_observer = &observer;
  compress::evaluate_chunks(model, pool, tokens, plan, evaluation, [](const compress::ScoredChunk&) {});
  const size_t observed = plan.n_chunks * static_cast<size_t>(plan.n_ctx);
  std::fprintf(stderr, "calibration: %zu chunks of %d tokens from %s\n", plan.n_chunks, plan.n_ctx,
               options.text_file.c_str());
  return observed;
}

}  // namespace jisu::cli
