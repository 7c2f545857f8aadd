// `jisu imatrix -m MODEL -f CALIB [-c CTX] [-b BATCH] [--chunks N] [--embedding-importance] [-t T] -o FILE`:
// the importance matrix (compress/importance_matrix.h) of every linear weight over a calibration
// text, cut into chunks as llama-imatrix cuts it (compress/chunked_evaluation.h); prints the
// calibration text's perplexity on the way. With --embedding-importance also the token
// embedding's entry from the loss's gradient (train/embedding_importance.h), over the same
// chunks, for the models the trainer has a backward pass for (skipped with a note otherwise).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "command_registry.h"
#include "compress/chunked_evaluation.h"
#include "train/embedding_importance.h"
#include "compress/importance_matrix.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct ImatrixOptions {
  std::string model, text_file, output;
  int32_t n_ctx = 512;
  int32_t batch = 2048;
  int threads = 0;
  size_t chunks = 0;
  bool embedding_importance = false;
};

int run_imatrix(const ImatrixOptions& options) {
  const auto model = Model::load(options.model.empty() ? default_model_path() : options.model);
  const auto tokenizer = Tokenizer::from_gguf(model->file());
  std::ifstream in(options.text_file, std::ios::binary);
  if (!in) throw Error("cannot open the calibration text '" + options.text_file + "'");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::vector<int32_t> tokens = tokenizer->encode(text, true, false);
  const std::vector<int32_t> bos_probe = tokenizer->encode("", true, false);
  const bool adds_bos = !bos_probe.empty() && bos_probe.front() == tokenizer->bos_id();
  const compress::ChunkPlan plan =
      compress::plan_chunks(tokens.size(), options.n_ctx, options.chunks, adds_bos ? tokenizer->bos_id() : -1);
  ThreadPool pool(options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count());
  std::fprintf(stderr, "imatrix: %zu tokens, %zu chunks of %d, %zu threads\n", tokens.size(), plan.n_chunks, plan.n_ctx,
               pool.size());
  compress::ImportanceCollector collector;
  compress::PerplexityAccumulator accumulator;
  compress::EvaluationOptions evaluation;
  evaluation.batch_tokens = static_cast<size_t>(options.batch);
  evaluation.all_logits = true;  // the output layer sees every position, as in llama-imatrix
  evaluation.linear_observer = &collector;
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);
  compress::evaluate_chunks(*model, pool, tokens, plan, evaluation, [&](const compress::ScoredChunk& chunk) {
    for (size_t r = 0; r < chunk.targets.size(); ++r) {
      const std::span<const float> row(chunk.logits + r * n_vocab, n_vocab);
      accumulator.add(-compress::log_softmax(row).log_probability(row[static_cast<size_t>(chunk.targets[r])]));
    }
    std::fprintf(stderr, "[%zu]%.4f,", chunk.index + 1, accumulator.perplexity());
  });
  std::fprintf(stderr, "\nFinal estimate: PPL = %.4f +/- %.5f\n", accumulator.perplexity(), accumulator.perplexity_error());
  compress::ImportanceMatrix& matrix = collector.matrix();
  if (options.embedding_importance) {
    const std::string model_path = options.model.empty() ? default_model_path() : options.model;
    std::fprintf(stderr, "imatrix: token_embd.weight from the loss's gradient (per pass of chunks: the perplexity of its positions)\n");
    train::EmbeddingImportance embedding = train::embedding_importance(
        model_path, tokens, plan, static_cast<size_t>(options.batch), pool, stderr);
    if (embedding.entry && matrix.find("token_embd.weight"))  // a tied output's entry has the name
      embedding = {std::nullopt, "the model's output layer reads token_embd.weight, whose entry it already is"};
    if (embedding.entry)
      matrix.entries.insert_or_assign("token_embd.weight", std::move(*embedding.entry));
    else
      std::fprintf(stderr, "note: no token_embd.weight entry: %s\n", embedding.skipped.c_str());
  }
  matrix.datasets = {std::filesystem::path(options.text_file).filename().string()};
  matrix.chunk_count = static_cast<uint32_t>(plan.n_chunks);
  matrix.chunk_size = static_cast<uint32_t>(plan.n_ctx);
  matrix.write(options.output);
  std::fprintf(stderr, "wrote %zu entries to %s\n", matrix.entries.size(), options.output.c_str());
  return 0;
}

CommandRegistrar registrar{
    "imatrix", "Importance matrix (mean squared input per column of every linear weight) over a calibration text",
    [](CLI::App& command) {
      auto options = std::make_shared<ImatrixOptions>();
      command.add_option("-m,--model", options->model, "GGUF model (default: bundled)");
      command.add_option("-f,--file", options->text_file, "calibration text")->required();
      command.add_option("-o,--output", options->output, "output imatrix GGUF")->required();
      command.add_option("-c,--ctx-size", options->n_ctx, "tokens per chunk")->check(CLI::Range(4, 1 << 20));
      command.add_option("-b,--batch-size", options->batch, "tokens per forward")->check(CLI::Range(1, 1 << 20));
      command.add_option("--chunks", options->chunks, "at most this many chunks (0: all)");
      command.add_flag("--embedding-importance", options->embedding_importance,
                       "also weigh the token embedding's columns by the loss's gradient (Fisher diagonal)");
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      return [options] { return run_imatrix(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
