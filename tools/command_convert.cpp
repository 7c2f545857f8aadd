// `jisu convert DIR OUT.gguf [--type T] [-t N]`: a Hugging Face model folder (config.json,
// tokenizer.json, *.safetensors) written as a GGUF that llama.cpp reads: metadata keys and
// tensor names as convert_hf_to_gguf.py writes them (models/hf_folder.h), weights as T
// (f32, f16, bf16, or any quantized type or mix of `jisu quantize`, compress/quantize_model.h),
// norms and biases in F32. The file appears only when complete (written to a temporary name,
// then renamed).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command_registry.h"
#include "compress/quantize_model.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "core/thread_pool.h"
#include "format/gguf_file.h"
#include "models/hf_folder.h"
#include "models/model_config.h"
#include "models/model_weights.h"

namespace jisu::cli {
namespace {

struct ConvertOptions {
  std::string input, output, type = "auto";
  int threads = 0;
};

// "auto": the precision of the checkpoint's weights, so that nothing is rounded.
std::string automatic_type(const gguf::GgufFile& file) {
  for (const gguf::TensorInfo& tensor : file.tensors())
    if (tensor.shape.size() >= 2) return std::string(dtype_name(tensor.type));
  return "f32";
}

int run_convert(const ConvertOptions& cli) {
  if (!std::filesystem::is_directory(cli.input))
    throw Error("'" + cli.input + "' is not a folder", "jisu convert reads a Hugging Face model folder (config.json, "
                                                       "tokenizer.json, *.safetensors)");
  const std::unique_ptr<gguf::GgufFile> model = load_hf_folder(cli.input);
  // Only what the engine itself could run is written: the same checks as loading it.
  ModelConfig config = read_model_config(*model);
  (void)load_model_weights(*model, config);
  compress::QuantizeOptions options;
  options.output = cli.output;
  const std::string type = cli.type == "auto" ? automatic_type(*model) : cli.type;
  const auto file_type = compress::file_type_from_name(type);
  if (!file_type)
    throw Error("--type: unknown type '" + cli.type + "'", "use auto or one of " + compress::file_type_names());
  if (is_jisu_only(file_type->base))
    throw Error("--type " + cli.type + ": " + std::string(dtype_name(file_type->base)) +
                    " is a jisu-only type, which other GGUF readers would misread",
                "convert to f16 or a GGUF type, then `jisu quantize` to it for jisu alone");
  options.file_type = *file_type;
  options.others_to_f32 = true;
  ThreadPool pool(cli.threads > 0 ? static_cast<size_t>(cli.threads) : ThreadPool::default_thread_count());
  const compress::QuantizeReport report = compress::quantize_model(*model, options, pool, stderr);
  std::fprintf(stderr, "wrote %s as %s: %.2f MiB of weights -> %.2f MiB, %.2f s\n", cli.output.c_str(),
               std::string(options.file_type.name).c_str(), static_cast<double>(report.input_bytes) / (1 << 20),
               static_cast<double>(report.output_bytes) / (1 << 20), report.seconds);
  return 0;
}

CommandRegistrar registrar{
    "convert", "Convert a Hugging Face model folder (safetensors) to a GGUF file llama.cpp reads",
    [](CLI::App& command) {
      auto options = std::make_shared<ConvertOptions>();
      command.add_option("input", options->input, "Hugging Face model folder")->required();
      command.add_option("output", options->output, "output GGUF")->required();
      command.add_option("--type", options->type,
                         "weight type: auto (the checkpoint's own), f32, f16, bf16, or a quantization type or mix "
                         "such as q8_0, q4_k_m")
          ->default_str("auto");
      command.add_option("-t,--threads", options->threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
      return [options] { return run_convert(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
