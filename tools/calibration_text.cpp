#include "calibration_text.h"

#include <cstdio>
#include <fstream>
#include <iterator>

#include "compress/chunked_evaluation.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {

size_t observe_calibration_text(const Model& model, ThreadPool& pool, const CalibrationOptions& options,
                                LinearObserver& observer) {
  std::ifstream in(options.text_file, std::ios::binary);
  if (!in) throw Error("cannot open the calibration text '" + options.text_file + "'");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto tokenizer = Tokenizer::from_gguf(model.file());
  const std::vector<int32_t> tokens = tokenizer->encode(text, true, false);
  const std::vector<int32_t> bos_probe = tokenizer->encode("", true, false);
  const bool adds_bos = !bos_probe.empty() && bos_probe.front() == tokenizer->bos_id();
  compress::ChunkPlan plan;
  try {
    plan = compress::plan_chunks(tokens.size(), options.n_ctx, options.max_chunks, adds_bos ? tokenizer->bos_id() : -1);
  } catch (const Error& e) {
    throw Error("the calibration text '" + options.text_file + "' is too short: " + e.what(), e.hint());
  }
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
