// `jisu bench`: prompt-processing and generation speed in the spirit of llama-bench, with the
// roofline: bytes read per generated token against a bandwidth probe run in the same command
// on the same threads.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include <jisu/engine.h>

#include "backends/cpu/repacked_tile_choice.h"
#include "backends/cuda/cuda_backend.h"
#include "command_registry.h"
#include "cache_type_options.h"
#include "device_options.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/memory_bandwidth.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/forward_factory.h"
#include "kv/kv_cache.h"
#include "bench_statistics.h"
#include "speculative_bench.h"

namespace jisu::cli {
namespace {

struct BenchOptions {
  std::string model;
  int threads = 0;
  std::vector<int> prompt_tokens = {128};
  std::vector<int> generated_tokens = {32};
  int repeats = 3;
  int batch = 1;
  int ubatch = 512;
  bool json = false;
  bool skip_probe = false;
  std::string device = "cpu";
  int32_t gpu_layers = -1;
  SpeculativeOptions speculative;
  std::string speculative_prompt;
  ProcessGrid grid;
  std::vector<int> depths = {0};  // positions already in the cache when a test starts (llama-bench -d)
  std::string cache_type_k = EngineOptions{}.cache_type_k;
  std::string cache_type_v = EngineOptions{}.cache_type_v;
};

struct BenchRow {
  std::string test;
  int tokens = 0;
  double median_tps = 0, stddev_tps = 0;
  double gbps = 0, roofline_pct = 0;  // generation rows only
};


class Bencher {
 public:
  Bencher(const Model& model, ThreadPool& pool, int max_context, int sequences, int ubatch, const DeviceOptions& device,
          DType key_type, DType value_type)
      : model_(model), n_vocab_(model.config().n_vocab) {
    KvCacheOptions options;
    options.context_length = max_context;
    options.max_sequences = sequences;
    options.key_type = key_type;
    options.value_type = value_type;
    cache_ = std::make_unique<KvCache>(model.config().context_length, options);
    transformer_ = make_forward_pass(device, model.config(), model.weights(), pool, std::max(ubatch, sequences), *cache_);
    logits_.resize(static_cast<size_t>(std::max(ubatch, sequences)) * static_cast<size_t>(n_vocab_));
    batch_.reserve(static_cast<size_t>(std::max(ubatch, sequences)));
  }

  const ForwardPass& forward() const { return *transformer_; }

  // Fills positions [0, depth) of the first `sequences` sequences (untimed); the tests below
  // then start at `depth` and cut the cache back to it, so one fill serves every repetition.
  void fill(int depth, int sequences) {
    for (int s = 0; s < sequences; ++s) {
      cache_->release(s);
      evaluate(s, 0, depth);
    }
    depth_ = depth;
  }

  // Seconds to evaluate `n` prompt tokens of sequence 0 after the filled depth, in chunks of the ubatch.
  double prompt(int n) {
    cache_->truncate(0, depth_);
    const auto start = std::chrono::steady_clock::now();
    evaluate(0, depth_, depth_ + n);
    return seconds_since(start);
  }

  // Seconds to generate `n` tokens in each of `sequences` sequences, one token per sequence
  // per forward, after the filled depth (as llama-bench's tg test).
  double generate(int n, int sequences) {
    for (int s = 0; s < sequences; ++s) cache_->truncate(s, depth_);
    const auto start = std::chrono::steady_clock::now();
    for (int step = 0; step < n; ++step) {
      batch_.clear();
      for (int s = 0; s < sequences; ++s) batch_.add(token(step * 31 + s), depth_ + step, s, true);
      transformer_->forward(batch_, *cache_, logits_.data());
    }
    return seconds_since(start);
  }

 private:
  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  int32_t token(int i) const { return static_cast<int32_t>((i * 7919 + 13) % n_vocab_); }

  // Positions [begin, end) of `sequence`, in forwards of up to the ubatch.
  void evaluate(int sequence, int begin, int end) {
    for (int first = begin; first < end; first += transformer_->max_batch_tokens()) {
      const int last = std::min(end, first + transformer_->max_batch_tokens());
      batch_.clear();
      for (int i = first; i < last; ++i) batch_.add(token(i), i, sequence, i + 1 == end);
      transformer_->forward(batch_, *cache_, logits_.data());
    }
  }

  const Model& model_;
  int32_t n_vocab_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardPass> transformer_;
  std::vector<float> logits_;
  Batch batch_;
  int depth_ = 0;
};

// The largest CPU cache (Linux sysfs: the highest level of cpu0), 0 when unknown. A model whose
// weights fit there is read from the cache, faster than the memory probe measures.
uint64_t last_level_cache_bytes() {
  uint64_t largest = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    uint64_t size = 0;
    std::string unit;
    if (!(in >> size)) break;
    std::getline(in, unit);
    if (unit == "K") size <<= 10;
    else if (unit == "M") size <<= 20;
    largest = std::max(largest, size);
  }
  return largest;
}

// The weight bytes one forward reads: every matrix once, except an untied token embedding, of
// which a forward reads only its tokens' rows (a few KiB; TinyLlama's table is 6 % of a Q8_0
// file, so counting it whole would overstate GB/s and the roofline by as much). A tied one is
// read whole as the output layer.
double forward_read_bytes(const ModelWeights& weights) {
  const WeightMatrix& embedding = weights.token_embedding;
  const bool tied = weights.output.data != nullptr && weights.output.data == embedding.data;
  const double table = tied ? 0.0 : double(embedding.rows) * double(embedding.row_bytes);
  return double(weights.total_bytes) - table;
}

// What the table's columns mean, under it, so a first reader needs no manual.
void print_column_notes(double weight_bytes, bool on_gpu, const std::vector<BenchRow>& rows) {
  std::printf("\nppN: N prompt tokens of one sequence, in forwards of up to -u tokens; tgN: N tokens generated\n"
              "one at a time (tgNxB: B sequences decoded together); @ dD: after D positions already in the cache. t/s: tokens per second, the median of -r runs;\n"
              "±: their standard deviation. GB/s: the bytes a test must read (every weight once per forward, the\n"
              "token embedding table only when it is also the output layer, plus the K/V cache when generating)\n"
              "per second; roofline %%: that against the bandwidth probe above.\n");
  const uint64_t cache_bytes = on_gpu ? 0 : last_level_cache_bytes();
  const bool above_roofline = std::any_of(rows.begin(), rows.end(), [](const BenchRow& row) { return row.roofline_pct > 100; });
  if (cache_bytes > 0 && weight_bytes <= double(cache_bytes))
    std::printf("\nThe weights (%.1f MiB) fit in the CPU's largest cache (%.0f MiB): they are read from the cache,\n"
                "not from memory, so a roofline above 100%% is expected here, not a measuring error.\n",
                weight_bytes / 1048576.0, double(cache_bytes) / 1048576.0);
  else if (above_roofline)
    std::printf("\nA roofline above 100%% means part of the data came from a cache rather than memory.\n");
}

int run_bench(const BenchOptions& options) {
  if (options.repeats < 1) throw Error("-r must be at least 1");
  if (options.batch < 1) throw Error("--batch must be at least 1");
  const std::string path = options.model.empty() ? default_model_path() : options.model;
  if (options.speculative.enabled()) {
    const int n = options.generated_tokens.empty() ? 128 : options.generated_tokens.front();
    return run_speculative_bench({path, options.threads, n, options.repeats, options.speculative_prompt, options.speculative});
  }
  const auto model = Model::load(path);
  const ModelConfig& config = model->config();
  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : ThreadPool::default_thread_count();
  ThreadPool pool(threads);

  int max_context = 1;
  for (int p : options.prompt_tokens) max_context = std::max(max_context, p);
  for (int n : options.generated_tokens) max_context = std::max(max_context, n);
  int max_depth = 0;
  for (int d : options.depths) {
    if (d < 0) throw Error("-d must not be negative");
    max_depth = std::max(max_depth, d);
  }
  max_context += max_depth;
  const bool f32_only_backend = options.device == "cuda" && options.gpu_layers != 0;
  const DType key_type = kv_cache_type_or_default(options.cache_type_k, f32_only_backend);
  const DType value_type = kv_cache_type_or_default(options.cache_type_v, f32_only_backend);
  // Past the model's context the outputs mean nothing, but the work per token is the same (as
  // llama-bench, which takes any -d): a depth may go there, a test alone may not.
  if (max_context - max_depth > config.context_length)
    throw Error("the test needs " + std::to_string(max_context - max_depth) + " positions but the model's context is " +
                std::to_string(config.context_length));
  if (max_context > config.context_length)
    std::fprintf(stderr, "note: -d %d takes the cache to %d positions, past the model's context of %d (speed only)\n",
                 max_depth, max_context, config.context_length);
  const std::optional<Device> device = device_from_name(options.device);
  if (!device) throw Error("unknown device '" + options.device + "'", "use cpu or cuda");
  const bool on_gpu = *device == Device::Cuda && options.gpu_layers != 0;
  Bencher bencher(*model, pool, max_context, options.batch, options.ubatch, {*device, options.gpu_layers, options.grid},
                  key_type, value_type);

  // The roofline of the device that streams the weights: host memory reads for the CPU, a
  // device-to-device copy (bytes read + written) for the GPU, measured in this run.
  const double bandwidth =
      options.skip_probe ? 0.0 : (on_gpu ? cuda::copy_bandwidth_gbps() : measure_read_bandwidth_gbps(pool));
  const std::string device_text = on_gpu ? "cuda (" + cuda::device_description() + "), gpu layers " +
                                               std::to_string(options.gpu_layers < 0 ? config.n_layer : options.gpu_layers)
                                         : "cpu";
  const double weight_bytes = static_cast<double>(model->weights().total_bytes);
  const double forward_bytes = forward_read_bytes(model->weights());
  std::vector<BenchRow> rows;

  bencher.generate(2, 1);  // warm-up: page in the weights, spin up the threads
  const double kv_position_bytes_all_layers =
      double(config.n_layer) * double(kv_position_bytes(key_type, value_type, config.kv_dim()));
  for (int depth : options.depths) {
  const std::string at_depth = depth > 0 ? " @ d" + std::to_string(depth) : "";
  bencher.fill(depth, options.batch);
  for (int p : options.prompt_tokens) {
    if (p <= 0) continue;
    std::vector<double> speeds;
    for (int r = 0; r < options.repeats; ++r) speeds.push_back(p / bencher.prompt(p));
    BenchRow row{"pp" + std::to_string(p) + at_depth, p, median(speeds), stddev(speeds), 0, 0};
    // Prompt processing reads every weight once per forward of up to ubatch tokens.
    const double forwards = std::ceil(double(p) / double(std::max(options.ubatch, options.batch)));
    row.gbps = forward_bytes * forwards * row.median_tps / double(p) / 1e9;
    row.roofline_pct = bandwidth > 0 ? 100.0 * row.gbps / bandwidth : 0;
    rows.push_back(row);
  }
  for (int n : options.generated_tokens) {
    if (n <= 0) continue;
    std::vector<double> speeds;
    for (int r = 0; r < options.repeats; ++r) speeds.push_back(double(n) * options.batch / bencher.generate(n, options.batch));
    BenchRow row{(options.batch > 1 ? "tg" + std::to_string(n) + "x" + std::to_string(options.batch) : "tg" + std::to_string(n)) +
                     at_depth,
                 n, median(speeds), stddev(speeds), 0, 0};
    // Bytes per decode step: every weight once, plus the KV read by attention (the mean
    // context over the run is depth + n/2 positions, in the cache's types), per sequence.
    const double kv_bytes_per_token = kv_position_bytes_all_layers * (depth + n / 2.0);
    const double steps_per_second = row.median_tps / options.batch;
    row.gbps = (forward_bytes + kv_bytes_per_token * options.batch) * steps_per_second / 1e9;
    row.roofline_pct = bandwidth > 0 ? 100.0 * row.gbps / bandwidth : 0;
    rows.push_back(row);
  }
  }

  const std::string name = model->file().get_string("general.name").value_or(path);
  std::string kernel_path(isa_kernel_path(active_isa()));
  if (!on_gpu)
    if (const std::string tiles = cpu::describe(cpu::repacked_tile_choice()); !tiles.empty()) kernel_path += "; " + tiles;
  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& row : rows) {
      nlohmann::json entry = {{"model", name},
                              {"model_bytes", model->weights().total_bytes},
                              {"threads", threads},
                              {"isa", std::string(isa_name(active_isa()))},
                              {"kernel_path", on_gpu ? device_text : kernel_path},
                              {"test", row.test},
                              {"tokens_per_second", row.median_tps},
                              {"stddev", row.stddev_tps},
                              {"device", options.device},
                              {"bandwidth_probe_gbps", bandwidth},
                              {"repacked_bytes", bencher.forward().prepared_weight_bytes()},
                              {"repack_ms", bencher.forward().prepare_ms()},
                              {"cache_type_k", std::string(dtype_name(key_type))},
                              {"cache_type_v", std::string(dtype_name(value_type))}};
      entry["gbps"] = row.gbps;
      entry["roofline_pct"] = row.roofline_pct;
      entry["batch"] = row.test.rfind("tg", 0) == 0 ? options.batch : 1;
      out.push_back(entry);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("model: %s, %.1f MiB of weights, %zu threads, isa %s, device %s, %s probe %.1f GB/s, KV cache %s/%s\n\n",
              name.c_str(), weight_bytes / 1048576.0, threads, std::string(isa_name(active_isa())).c_str(),
              device_text.c_str(), on_gpu ? "device copy" : "memory read", bandwidth, std::string(dtype_name(key_type)).c_str(),
              std::string(dtype_name(value_type)).c_str());
  if (!on_gpu) std::printf("kernels: %s\n\n", kernel_path.c_str());
  if (bencher.forward().prepared_weight_bytes() > 0)
    std::printf("prepared %.1f MiB of weight copies (repacked or on the device) at load in %.0f ms\n\n", bencher.forward().prepared_weight_bytes() / 1048576.0,
                bencher.forward().prepare_ms());
  std::printf("| test | t/s | ± | GB/s | roofline %% |\n|---|---:|---:|---:|---:|\n");
  for (const auto& row : rows) {
    if (row.gbps > 0)
      std::printf("| %s | %.2f | %.2f | %.1f | %.1f |\n", row.test.c_str(), row.median_tps, row.stddev_tps, row.gbps, row.roofline_pct);
    else
      std::printf("| %s | %.2f | %.2f | | |\n", row.test.c_str(), row.median_tps, row.stddev_tps);
  }
  print_column_notes(weight_bytes, on_gpu, rows);
  return 0;
}

CommandRegistrar registrar{"bench", "Measure prompt and generation speed against the memory roofline",
                           [](CLI::App& command) {
                             auto options = std::make_shared<BenchOptions>();
                             command.add_option("-m,--model", options->model, "GGUF model file")->default_str("the bundled demo model");
                             command.add_option("-t,--threads", options->threads, "threads (0: every core this process may use)")->check(CLI::Range(0, 1024));
                             command.add_option("-p,--n-prompt", options->prompt_tokens, "prompt tokens (0: skip)")->delimiter(',');
                             command.add_option("-n,--n-gen", options->generated_tokens, "generated tokens (0: skip)")->delimiter(',');
                             command.add_option("-r,--repetitions", options->repeats, "repeats per test")->check(CLI::Range(1, 1 << 20));
                             command.add_option("--batch", options->batch, "sequences decoded together")->check(CLI::Range(1, 1 << 16));
                             command.add_option("-u,--ubatch", options->ubatch, "prompt tokens per forward")->check(CLI::Range(1, 1 << 16));
                             command.add_flag("--json", options->json, "print one JSON array");
                             add_device_options(command, options->device, options->gpu_layers);
                             add_grid_options(command, options->grid);
                             add_cache_type_options(command, options->cache_type_k, options->cache_type_v);
                             command.add_option("-d,--n-depth", options->depths, "positions already in the KV cache when each test starts (llama-bench -d)")
                                 ->delimiter(',');
                             command.add_flag("--no-probe", options->skip_probe, "skip the bandwidth probe");
                             add_speculative_options(command, options->speculative);
                             command.add_option("--spec-prompt", options->speculative_prompt,
                                                "with --spec-ngram or --draft: the prompt file (default: a passage to repeat)");
                             return [options] { return run_bench(*options); };
                           }};

}  // namespace
}  // namespace jisu::cli
