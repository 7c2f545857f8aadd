#include "model_loading.h"

#include "command_registry.h"
#include "cache_type_options.h"
#include "device_options.h"
#include "core/error.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <unistd.h>

namespace jisu::cli {

std::string ModelOptions::model_path() const { return model.empty() ? default_model_path() : model; }

EngineOptions ModelOptions::engine_options() const {
  EngineOptions options;
  options.model_path = model_path();
  options.threads = threads;
  options.context_length = context_length;
  options.max_batch_tokens = batch;
  options.device = device;
  options.gpu_layers = gpu_layers;
  options.grid = grid;
  options.cache_type_k = cache_type_k;
  options.cache_type_v = cache_type_v;
  return options;
}

ServingOptions ModelOptions::serving_options() const {
  const EngineOptions engine = engine_options();
  ServingOptions options;
  options.model_path = engine.model_path;
  options.threads = engine.threads;
  options.context_length = engine.context_length;
  options.max_batch_tokens = engine.max_batch_tokens;
  options.device = engine.device;
  options.gpu_layers = engine.gpu_layers;
  options.grid = engine.grid;
  options.cache_type_k = engine.cache_type_k;
  options.cache_type_v = engine.cache_type_v;
  options.max_sequences = 1;
  options.max_queue = 1;
  return options;
}

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("-m,--model", options.model, "GGUF model file, or Hugging Face model folder")->default_str("the bundled demo model");
  command.add_option("-t,--threads", options.threads, "threads (0: every core this process may use)")
      ->check(CLI::Range(0, 1024));
  command.add_option("-c,--ctx-size", options.context_length, "context length (0: the model's, at most 4096)")
      ->check(CLI::Range(0, 1 << 24));
  command.add_option("-b,--batch-size", options.batch, "prompt tokens per forward")->check(CLI::Range(1, 1 << 16));
  add_device_options(command, options.device, options.gpu_layers);
  add_grid_options(command, options.grid);
  add_cache_type_options(command, options.cache_type_k, options.cache_type_v);
}

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  for (; value >= 1000 && unit < 4; ++unit) value /= 1000;
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : value < 10 ? "%.1f %s" : "%.0f %s", value, kUnits[unit]);
  return text;
}

LoadingLine::LoadingLine(const std::string& model_path, bool quiet)
    : quiet_(quiet), interactive_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {
  if (quiet_) return;
  std::error_code error;
  uintmax_t size = 0;
  if (std::filesystem::is_directory(model_path, error)) {  // a Hugging Face folder: its weights
    for (const auto& entry : std::filesystem::directory_iterator(model_path, error))
      if (entry.path().extension() == ".safetensors") size += entry.file_size(error);
  } else {
    size = std::filesystem::file_size(model_path, error);
  }
  description_ = error ? model_path : model_path + " (" + format_bytes(size) + ")";
  // A person at a terminal sees that a large model is loading; the line is then replaced, so a
  // failed load still ends in exactly one line, the error.
  if (interactive_) {
    std::fprintf(stderr, "loading %s ...", description_.c_str());
    std::fflush(stderr);
  }
}

void LoadingLine::done(const ModelSummary& summary) {
  if (quiet_) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%sloaded %s in %.2f s: %s, %d layers, context %d\n", interactive_ ? "\r\033[K" : "",
               description_.c_str(), seconds, summary.architecture.c_str(), summary.n_layer, summary.context_length);
}

void LoadingLine::failed() {
  if (!quiet_ && interactive_) std::fputs("\r\033[K", stderr);
}

std::string read_text_file(const std::string& path, const char* flag) {
  constexpr std::streamoff kMaxBytes = std::streamoff{8} << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string(flag) + ": cannot open " + path);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || size > kMaxBytes) throw Error(std::string(flag) + ": " + path + " is not a text file of at most 8 MiB");
  in.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), size)) throw Error(std::string(flag) + ": cannot read " + path);
  return text;
}

}  // namespace jisu::cli
