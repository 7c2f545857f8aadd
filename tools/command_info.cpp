// `jisu info MODEL [--tensors]`: what is in a GGUF file (or a Hugging Face folder): format, architecture and
// hyperparameters, tokenizer, a tensor-type histogram, totals, and optionally every tensor.
// Works on any GGUF the reader accepts (unknown architectures, vocab-only files): it reads
// metadata as it is, never requiring a key.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command_registry.h"
#include "core/dtype.h"
#include "core/sparse_dtype.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "models/hf_folder.h"

namespace jisu::cli {
namespace {

using gguf::GgufFile;
using gguf::MetadataValue;
using gguf::ValueType;

struct InfoOptions {
  std::string model;
  std::string model_flag;
  bool tensors = false;
};

std::string format_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[64];
  if (unit == 0) std::snprintf(text, sizeof(text), "%" PRIu64 " B", bytes);
  else std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}

std::string format_count(uint64_t count) {
  char text[64];
  if (count >= 1000000000ull) std::snprintf(text, sizeof(text), "%.2f B", count / 1e9);
  else if (count >= 1000000ull) std::snprintf(text, sizeof(text), "%.2f M", count / 1e6);
  else if (count >= 1000ull) std::snprintf(text, sizeof(text), "%.2f K", count / 1e3);
  else std::snprintf(text, sizeof(text), "%" PRIu64, count);
  return text;
}

std::string format_number(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

std::string format_integer(const MetadataValue& value, int64_t integer) {
  if (value.type == ValueType::BOOL || value.element_type == ValueType::BOOL)
    return integer ? "true" : "false";
  if (value.type == ValueType::UINT64 || value.element_type == ValueType::UINT64)
    return std::to_string(static_cast<uint64_t>(integer));
  return std::to_string(integer);
}

// Strings are shown as they are, but one line each: control characters become '?'.
std::string printable(std::string_view text, size_t limit = 80) {
  std::string out;
  for (char c : text.substr(0, limit)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (text.size() > limit) out += "...";
  return out;
}

std::string format_value(const MetadataValue& value) {
  if (!value.is_array()) {
    if (value.type == ValueType::STRING) return printable(value.text);
    if (value.is_float()) return format_number(value.number);
    return format_integer(value, value.integer);
  }
  const size_t size = value.array_size();
  std::string type_name(gguf::value_type_name(value.element_type));
  if (size > 8 || value.element_type == ValueType::ARRAY || value.element_type == ValueType::STRING)
    return "[" + std::to_string(size) + " x " + type_name + "]";
  std::string out = "[";
  for (size_t i = 0; i < size; ++i) {
    if (i) out += ", ";
    out += value.is_float() || value.element_type == ValueType::FLOAT32 || value.element_type == ValueType::FLOAT64
               ? format_number(value.numbers[i])
               : format_integer(value, value.integers[i]);
  }
  return out + "]";
}

std::optional<int64_t> scalar_integer(const GgufFile& file, const std::string& key) {
  const MetadataValue* value = file.find(key);
  if (!value || !value->is_integer() || value->type == ValueType::BOOL) return std::nullopt;
  return value->integer;
}

// llama.cpp's llama_ftype numbering (general.file_type).
std::string file_type_name(int64_t type) {
  static const std::map<int64_t, const char*> names = {
      {0, "F32"},      {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},     {7, "Q8_0"},     {8, "Q5_0"},
      {9, "Q5_1"},     {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},  {13, "Q3_K_L"},  {14, "Q4_K_S"},
      {15, "Q4_K_M"},  {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"},    {19, "IQ2_XXS"}, {20, "IQ2_XS"},
      {21, "Q2_K_S"},  {22, "IQ3_XS"}, {23, "IQ3_XXS"}, {24, "IQ1_S"},  {25, "IQ4_NL"},  {26, "IQ3_S"},
      {27, "IQ3_M"},   {28, "IQ2_S"},  {29, "IQ2_M"},  {30, "IQ4_XS"},  {31, "IQ1_M"},   {32, "BF16"},
      {36, "TQ1_0"},   {37, "TQ2_0"},
  };
  const auto it = names.find(type);
  return (it != names.end() ? std::string(it->second) : std::string("unknown")) + " (" + std::to_string(type) + ")";
}

std::string format_shape(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

void print_row(const std::string& label, const std::string& value, int width) {
  std::printf("  %-*s %s\n", width, label.c_str(), value.c_str());
}

int run_info(const InfoOptions& options) {
  const std::string path = !options.model.empty()        ? options.model
                           : !options.model_flag.empty() ? options.model_flag
                                                         : default_model_path();
  // A Hugging Face folder shows the GGUF description it loads as (models/hf_folder.h).
  const std::unique_ptr<GgufFile> file = std::filesystem::is_directory(path) ? load_hf_folder(path) : GgufFile::open(path);

  uint64_t parameters = 0, tensor_bytes = 0;
  for (const auto& tensor : file->tensors()) {
    parameters += tensor.element_count;
    tensor_bytes += tensor.byte_size;
  }

  std::printf("file           %s\n", file->path().c_str());
  std::printf("format         GGUF v%u, %s (%" PRIu64 " bytes), %zu metadata keys, %zu tensors, alignment %" PRIu64,
              file->version(), format_bytes(file->file_size()).c_str(), file->file_size(), file->metadata().size(),
              file->tensors().size(), file->alignment());
  if (!file->tensors().empty()) std::printf(", data at byte %" PRIu64, file->data_offset());
  std::printf("\n");
  if (const MetadataValue* name = file->find("general.name"); name && name->type == ValueType::STRING)
    std::printf("name           %s\n", printable(name->text).c_str());
  std::string arch;
  if (const MetadataValue* value = file->find("general.architecture"); value && value->type == ValueType::STRING)
    arch = value->text;
  std::printf("architecture   %s\n", arch.empty() ? "(not set)" : printable(arch).c_str());
  if (auto type = scalar_integer(*file, "general.file_type"))
    std::printf("file type      %s\n", file_type_name(*type).c_str());

  // Hyperparameters: <arch>.* keys, in a fixed order, whichever are present.
  if (!arch.empty()) {
    static const char* keys[] = {
        "embedding_length",        "block_count",          "attention.head_count",
        "attention.head_count_kv", "attention.key_length", "attention.value_length",
        "feed_forward_length",     "expert_feed_forward_length", "context_length",
        "rope.freq_base",          "rope.dimension_count", "rope.scaling.type",
        "rope.scaling.factor",     "rope.scaling.original_context_length",
        "attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon",
        "expert_count",            "expert_used_count",    "expert_shared_count",
        "vocab_size",
    };
    std::vector<std::pair<std::string, std::string>> rows;
    for (const char* key : keys) {
      if (const MetadataValue* value = file->find(arch + "." + key)) rows.emplace_back(key, format_value(*value));
      if (std::string(key) == "attention.value_length") {
        // The per-head size: attention.key_length when given, else embedding_length / head_count.
        const auto embd = scalar_integer(*file, arch + ".embedding_length");
        const auto heads = scalar_integer(*file, arch + ".attention.head_count");
        if (auto key_length = scalar_integer(*file, arch + ".attention.key_length"))
          rows.emplace_back("head_dim", std::to_string(*key_length));
        else if (embd && heads && *heads > 0)
          rows.emplace_back("head_dim", std::to_string(*embd / *heads));
      }
    }
    if (!rows.empty()) {
      int width = 0;
      for (const auto& row : rows) width = std::max(width, static_cast<int>(row.first.size()));
      std::printf("hyperparameters (%s.*)\n", printable(arch).c_str());
      for (const auto& [label, value] : rows) print_row(label, value, width);
    }
  }

  // Tokenizer.
  {
    std::string model = "(none)";
    if (const MetadataValue* value = file->find("tokenizer.ggml.model"); value && value->type == ValueType::STRING)
      model = printable(value->text);
    std::string line = "tokenizer      " + model;
    if (const MetadataValue* pre = file->find("tokenizer.ggml.pre"); pre && pre->type == ValueType::STRING)
      line += " (pre " + printable(pre->text) + ")";
    const MetadataValue* tokens = file->find("tokenizer.ggml.tokens");
    if (tokens && tokens->is_array()) line += ", vocab size " + std::to_string(tokens->array_size());
    else if (auto vocab = scalar_integer(*file, arch + ".vocab_size")) line += ", vocab size " + std::to_string(*vocab);
    if (auto bos = scalar_integer(*file, "tokenizer.ggml.bos_token_id")) line += ", bos " + std::to_string(*bos);
    if (auto eos = scalar_integer(*file, "tokenizer.ggml.eos_token_id")) line += ", eos " + std::to_string(*eos);
    if (const MetadataValue* merges = file->find("tokenizer.ggml.merges"); merges && merges->is_array())
      line += ", " + std::to_string(merges->array_size()) + " merges";
    std::printf("%s\n", line.c_str());
  }

  // Tensor-type histogram, largest share first.
  if (!file->tensors().empty()) {
    struct TypeTotal {
      DType type;
      uint64_t count = 0, elements = 0, bytes = 0;
    };
    std::vector<TypeTotal> totals;
    for (const auto& tensor : file->tensors()) {
      auto it = std::find_if(totals.begin(), totals.end(), [&](const TypeTotal& t) { return t.type == tensor.type; });
      if (it == totals.end()) it = totals.insert(totals.end(), TypeTotal{tensor.type});
      ++it->count;
      it->elements += tensor.element_count;
      it->bytes += tensor.byte_size;
    }
    std::stable_sort(totals.begin(), totals.end(),
                     [](const TypeTotal& a, const TypeTotal& b) { return a.bytes > b.bytes; });
    std::printf("tensor types\n");
    for (const TypeTotal& t : totals)
      std::printf("  %-7s %5" PRIu64 " tensors  %12s params  %12s  %6.2f%%\n", std::string(dtype_name(t.type)).c_str(),
                  t.count, format_count(t.elements).c_str(), format_bytes(t.bytes).c_str(),
                  tensor_bytes ? 100.0 * static_cast<double>(t.bytes) / static_cast<double>(tensor_bytes) : 0.0);
    if (std::any_of(totals.begin(), totals.end(), [](const TypeTotal& t) { return is_jisu_only(t.type); }))
      std::printf("  (jisu_*, i8_row and cb4 are jisu-only types (`jisu prune`, `jisu quantize`): other GGUF "
                  "readers cannot load this file; `jisu prune --dense-output` or quantizing the float model to a "
                  "GGUF type writes one they can)\n");
  }
  std::printf("total          %zu tensors, %" PRIu64 " parameters (%s), %s of tensor data", file->tensors().size(),
              parameters, format_count(parameters).c_str(), format_bytes(tensor_bytes).c_str());
  if (parameters > 0)
    std::printf(", %.2f bits per weight", 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(parameters));
  std::printf("\n");

  if (options.tensors && !file->tensors().empty()) {
    int name_width = 4, shape_width = 5;
    for (const auto& tensor : file->tensors()) {
      name_width = std::max(name_width, static_cast<int>(printable(tensor.name, 200).size()));
      shape_width = std::max(shape_width, static_cast<int>(format_shape(tensor.shape).size()));
    }
    std::printf("tensors\n  %-*s  %-7s  %-*s  %12s  %12s\n", name_width, "name", "type", shape_width, "shape", "bytes",
                "at byte");
    for (const auto& tensor : file->tensors())
      std::printf("  %-*s  %-7s  %-*s  %12" PRIu64 "  %12" PRIu64 "\n", name_width, printable(tensor.name, 200).c_str(),
                  std::string(dtype_name(tensor.type)).c_str(), shape_width, format_shape(tensor.shape).c_str(),
                  tensor.byte_size, file->data_offset() + tensor.offset);
  }
  return 0;
}

CommandRegistrar registrar{
    "info", "Describe a GGUF model file: format, hyperparameters, tensor types", [](CLI::App& command) {
      auto options = std::make_shared<InfoOptions>();
      command.add_option("file", options->model, "GGUF file (default: the bundled model)")->type_name("MODEL");
      command.add_option("-m,--model", options->model_flag, "GGUF file (same as the positional)");
      command.add_flag("--tensors", options->tensors, "List every tensor: name, type, shape, bytes");
      return [options] { return run_info(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
