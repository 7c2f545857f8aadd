// `jisu make-model --shape tinyllama --type q4_0 -o FILE.gguf`: a random-weight model of a
// real shape, for benchmarks.
#include <cstdio>
#include <memory>

#include "command_registry.h"
#include "core/thread_pool.h"
#include "compress/random_model.h"

namespace jisu::cli {
namespace {

struct MakeModelOptions {
  std::string shape = "tinyllama";
  std::string type = "q4_0";
  std::string output;
  uint64_t seed = 1;
  int threads = 0;
  double low_rank_ratio = 0;
};

int run_make_model(const MakeModelOptions& options) {
  const ModelShape& shape = find_model_shape(options.shape);
  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count();
  write_random_model(shape, options.type, options.output, options.seed, threads, options.low_rank_ratio);
  std::fprintf(stderr, "wrote %s (%s, %s)\n", options.output.c_str(), shape.name.c_str(), options.type.c_str());
  return 0;
}

CommandRegistrar registrar{"make-model", "Write a random-weight GGUF model of a real shape (for benchmarks)",
                           [](CLI::App& command) {
                             auto options = std::make_shared<MakeModelOptions>();
                             std::string shapes;
                             for (const auto& shape : known_model_shapes()) shapes += (shapes.empty() ? "" : "|") + shape.name;
                             command.add_option("--shape", options->shape, shapes);
                             command.add_option("--type", options->type, "f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q4_k_m");
                             command.add_option("-o,--output", options->output, "output .gguf")->required();
                             command.add_option("--seed", options->seed, "weights seed");
                             command.add_option("-t,--threads", options->threads, "threads")->check(CLI::Range(0, 1024));
                             command.add_option("--low-rank-ratio", options->low_rank_ratio,
                                                "layer linears as random low-rank pairs keeping this fraction of "
                                                "their parameters (the shapes `jisu lowrank --ratio` writes)")
                                 ->check(CLI::Range(0.0, 1.0));
                             return [options] { return run_make_model(*options); };
                           }};

}  // namespace
}  // namespace jisu::cli
