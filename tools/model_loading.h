#pragma once
// The model flags of `jisu run` and `jisu chat` (-m, -t, -c, -b, --device, --gpu-layers) and the
// loading line, on stderr so that stdout keeps only the text:
//   loaded models/demo-shakespeare.q8_0.gguf (3.9 MB) in 0.02 s: llama, 4 layers, context 512
// (at a terminal "loading FILE (SIZE) ..." shows while it loads).
#include <jisu/engine.h>
#include <jisu/serving_engine.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace jisu::cli {

struct ModelOptions {
  std::string model;  // empty: the bundled demo model
  int32_t threads = 0;
  int32_t context_length = 0;
  int32_t batch = 256;
  std::string device = "cpu";
  int32_t gpu_layers = -1;
  ProcessGrid grid;
  std::string cache_type_k = EngineOptions{}.cache_type_k;
  std::string cache_type_v = EngineOptions{}.cache_type_v;

  std::string model_path() const;
  EngineOptions engine_options() const;
  ServingOptions serving_options() const;  // one sequence; the caller may widen it
};

void add_model_options(CLI::App& command, ModelOptions& options);

// The whole of a small text file named by `flag` (a grammar, schema or template: at most 8 MiB);
// throws jisu::Error naming the flag when it cannot be read.
std::string read_text_file(const std::string& path, const char* flag);

// "3.9 MB", "4.1 GB": decimal units, as disks and downloads show sizes.
std::string format_bytes(uint64_t bytes);

class LoadingLine {
 public:
  LoadingLine(const std::string& model_path, bool quiet);
  void done(const ModelSummary& summary);
  void failed();  // clears the terminal's "loading" so that the error is the only line

 private:
  bool quiet_;
  bool interactive_;
  std::string description_;
  std::chrono::steady_clock::time_point start_;
};

// Runs create() (returning a pointer to an engine) between the two halves of the line.
template <class Create>
auto load_with_loading_line(const std::string& model_path, bool quiet, Create create) {
  LoadingLine line(model_path, quiet);
  try {
    auto engine = create();
    line.done(engine->summary());
    return engine;
  } catch (...) {
    line.failed();
    throw;
  }
}

}  // namespace jisu::cli
