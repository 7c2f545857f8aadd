// `jisu perplexity -m MODEL -f TEXT [-c CTX] [-b BATCH] [-t T] [--chunks N]`: perplexity computed
// as llama.cpp's llama-perplexity computes it (compress/chunked_evaluation.h), with its final
// line in the same format. With --kl-divergence-base FILE alone it also saves the scored
// log-probabilities; with --kl-divergence too it compares the model against that file.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

#include <jisu/engine.h>

#include "cache_type_options.h"
#include "command_registry.h"
#include "compress/chunked_evaluation.h"
#include "compress/kl_divergence.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kv/kv_cache.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace jisu::cli {
namespace {

struct PerplexityOptions {
  std::string model;
  std::string text_file;
  int32_t n_ctx = 512;
  int32_t batch = 2048;
  int threads = 0;
  size_t chunks = 0;
  std::string kl_base;
  bool kl_divergence = false;
  std::string cache_type_k = EngineOptions{}.cache_type_k;
  std::string cache_type_v = EngineOptions{}.cache_type_v;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the text file '" + path + "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void print_kl_statistics(const compress::KlStatistics& kl, double model_ppl) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f\n", model_ppl);
  std::printf("Mean PPL(base)                : %10.6f\n", kl.base_perplexity());
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", kl.mean_log_ppl_ratio(), kl.mean_log_ppl_ratio_error());
  std::printf("\n====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", kl.mean_kld(), kl.mean_kld_error());
  std::printf("Maximum KLD: %10.6f\n", kl.kld_quantile(1.0));
  std::printf("99.9%%   KLD: %10.6f\n", kl.kld_quantile(0.999));
  std::printf("99.0%%   KLD: %10.6f\n", kl.kld_quantile(0.99));
  std::printf("Median  KLD: %10.6f\n", kl.kld_quantile(0.5));
  std::printf("\n====== Token probability statistics ======\n");
  std::printf("RMS Δp    : %6.3f %%\n", 100.0 * kl.delta_p_rms());
  std::printf("Same top p: %6.3f %%\n", 100.0 * kl.same_top_fraction());
}

int run_perplexity(const PerplexityOptions& options) {
  if (options.kl_divergence && options.kl_base.empty())
    throw Error("--kl-divergence needs --kl-divergence-base FILE (made from the base model)");
  const auto model = Model::load(options.model.empty() ? default_model_path() : options.model);
  const auto tokenizer = Tokenizer::from_gguf(model->file());
  const std::string text = read_text(options.text_file);
  const std::vector<int32_t> tokens = tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/false);
  const std::vector<int32_t> bos_probe = tokenizer->encode("", true, false);
  const bool adds_bos = !bos_probe.empty() && bos_probe.front() == tokenizer->bos_id();
  const compress::ChunkPlan plan =
      compress::plan_chunks(tokens.size(), options.n_ctx, options.chunks, adds_bos ? tokenizer->bos_id() : -1);
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);

  std::optional<compress::KlBaseReader> base;
  std::optional<compress::KlBaseWriter> base_writer;
  const std::span<const int32_t> used_tokens(tokens.data(), plan.n_chunks * static_cast<size_t>(plan.n_ctx));
  if (options.kl_divergence) {
    base.emplace(options.kl_base);
    const compress::KlBaseHeader& h = base->header();
    if (h.n_vocab != n_vocab || h.n_ctx != static_cast<uint32_t>(plan.n_ctx) || h.n_chunks < plan.n_chunks ||
        !std::equal(used_tokens.begin(), used_tokens.end(), base->tokens().begin()))
      throw Error("'" + options.kl_base + "' was made from another text, context or vocabulary",
                  "use the same -f, -c and a model with the same tokenizer");
  } else if (!options.kl_base.empty()) {
    base_writer.emplace(options.kl_base,
                        compress::KlBaseHeader{static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(plan.n_ctx),
                                               static_cast<uint32_t>(plan.n_chunks),
                                               static_cast<uint32_t>(plan.scored_per_chunk())},
                        used_tokens);
  }

  ThreadPool pool(options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count());
  std::fprintf(stderr, "perplexity: %zu tokens, %zu chunks of %d, %zu scored per chunk, %zu threads\n", tokens.size(),
               plan.n_chunks, plan.n_ctx, plan.scored_per_chunk(), pool.size());
  compress::PerplexityAccumulator accumulator;
  compress::KlStatistics kl;
  std::vector<double> base_row(n_vocab);
  const auto start = std::chrono::steady_clock::now();
  compress::EvaluationOptions evaluation;
  evaluation.batch_tokens = static_cast<size_t>(options.batch);
  evaluation.cache_key_type = kv_cache_type_or_default(options.cache_type_k, false);
  evaluation.cache_value_type = kv_cache_type_or_default(options.cache_type_v, false);
  compress::evaluate_chunks(*model, pool, tokens, plan, evaluation, [&](const compress::ScoredChunk& chunk) {
    for (size_t r = 0; r < chunk.targets.size(); ++r) {
      const std::span<const float> row(chunk.logits + r * n_vocab, n_vocab);
      const int32_t target = chunk.targets[r];
      accumulator.add(-compress::log_softmax(row).log_probability(row[static_cast<size_t>(target)]));
      if (base_writer) base_writer->add_row(row);
      if (base) {
        base->read_row(chunk.index * plan.scored_per_chunk() + r, base_row);
        kl.add_row(base_row, row, target);
      }
    }
    std::printf("[%zu]%.4f,", chunk.index + 1, accumulator.perplexity());
    std::fflush(stdout);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n");
  std::fprintf(stderr, "evaluated %zu tokens in %.2f s (%.1f tokens/s)\n", plan.n_chunks * plan.n_ctx, seconds,
               static_cast<double>(plan.n_chunks * plan.n_ctx) / seconds);
  if (base_writer) base_writer->commit();
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", accumulator.perplexity(), accumulator.perplexity_error());
  if (base) {
    std::printf("\n");
    print_kl_statistics(kl, accumulator.perplexity());
  }
  return 0;
}

CommandRegistrar registrar{
    "perplexity", "Perplexity of a text as llama-perplexity computes it; KL divergence against a base model",
    [](CLI::App& command) {
      auto options = std::make_shared<PerplexityOptions>();
      command.add_option("-m,--model", options->model, "GGUF model (default: bundled)");
      command.add_option("-f,--file", options->text_file, "text file")->required();
      command.add_option("-c,--ctx-size", options->n_ctx, "tokens per chunk")->check(CLI::Range(4, 1 << 20));
      command.add_option("-b,--batch-size", options->batch, "tokens per forward (batch / ctx chunks at once)")
          ->check(CLI::Range(1, 1 << 20));
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      command.add_option("--chunks", options->chunks, "at most this many chunks (0: all)");
      command.add_option("--kl-divergence-base", options->kl_base,
                         "file of the base model's log-probabilities: written, or read with --kl-divergence");
      command.add_flag("--kl-divergence", options->kl_divergence, "compare against --kl-divergence-base");
      add_cache_type_options(command, options->cache_type_k, options->cache_type_v);
      return [options] { return run_perplexity(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
