#include "models/hf_folder.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <jisu/json_nesting.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half_float.h"
#include "format/gguf_writer.h"
#include "format/safetensors_file.h"
#include "models/hf_architectures.h"
#include "tokenizer/hf_tokenizer_gguf.h"

namespace jisu {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using gguf::MetadataValue;
using gguf::TensorInfo;
using gguf::ValueType;

json read_json_file(const fs::path& path, uintmax_t max_bytes) {
  std::error_code error;
  const uintmax_t size = fs::file_size(path, error);
  if (error) throw Error("cannot read '" + path.string() + "': " + error.message());
  if (size > max_bytes) throw Error("'" + path.string() + "' is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  constexpr size_t kMaxDepth = 32;
  if (json_nesting_depth(text, kMaxDepth) > kMaxDepth)
    throw Error("'" + path.string() + "': JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  try {
    json value = json::parse(text);
    if (!value.is_object()) throw Error("'" + path.string() + "' is not a JSON object");
    return value;
  } catch (const json::exception& e) {
    throw Error("'" + path.string() + "' is not valid JSON: " + e.what(), "the file is truncated or corrupted");
  }
}

// config.json values, checked for type and range.
class HfConfig {
 public:
  HfConfig(json root, std::string path) : root_(std::move(root)), path_(std::move(path)) {}

  std::optional<int64_t> optional_int(const char* key, int64_t min_value, int64_t max_value) const {
    if (!root_.contains(key) || root_[key].is_null()) return std::nullopt;
    const json& value = root_[key];
    if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX))
      throw Error(path_ + ": '" + key + "' is " + value.dump().substr(0, 40) + ", not an integer");
    const int64_t number = value.get<int64_t>();
    if (number < min_value || number > max_value)
      throw Error(path_ + ": '" + key + "' = " + std::to_string(number) + " is out of range [" + std::to_string(min_value) +
                  ", " + std::to_string(max_value) + "]");
    return number;
  }
  int64_t required_int(const char* key, int64_t min_value, int64_t max_value) const {
    const auto value = optional_int(key, min_value, max_value);
    if (!value) throw Error(path_ + " lacks '" + std::string(key) + "'", "is this a complete Hugging Face model folder?");
    return *value;
  }
  std::optional<double> optional_number(const json& object, const char* key) const {
    if (!object.contains(key) || object[key].is_null()) return std::nullopt;
    if (!object[key].is_number()) throw Error(path_ + ": '" + key + "' is not a number");
    const double value = object[key].get<double>();
    // Every number of a config is far inside this; beyond it a cast to float or int overflows.
    constexpr double kLimit = 1e15;
    if (!(std::fabs(value) <= kLimit)) throw Error(path_ + ": '" + key + "' = " + object[key].dump() + " is out of range");
    return value;
  }
  std::optional<double> optional_number(const char* key) const { return optional_number(root_, key); }
  std::string optional_string(const json& object, const char* key) const {
    if (!object.contains(key) || object[key].is_null()) return {};
    if (!object[key].is_string()) throw Error(path_ + ": '" + key + "' is not a string");
    return object[key].get<std::string>();
  }
  const json& root() const { return root_; }
  const std::string& path() const { return path_; }

 private:
  json root_;
  std::string path_;
};

// A tensor name against a table pattern: '#' matches the layer index, '*' the expert index.
bool match_name(std::string_view pattern, std::string_view name, int64_t& layer, int64_t& expert) {
  size_t at = 0;
  for (const char c : pattern) {
    if (c == '#' || c == '*') {
      const size_t start = at;
      int64_t value = 0;
      while (at < name.size() && name[at] >= '0' && name[at] <= '9' && at - start < 7) value = value * 10 + (name[at++] - '0');
      if (at == start) return false;
      (c == '#' ? layer : expert) = value;
    } else {
      if (at >= name.size() || name[at] != c) return false;
      ++at;
    }
  }
  return at == name.size();
}

std::string with_layer(std::string_view pattern, int64_t layer) {
  std::string out(pattern);
  if (const size_t hash = out.find('#'); hash != std::string::npos) out.replace(hash, 1, std::to_string(layer));
  return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Buffers for the tensors a conversion rewrites, 64-byte aligned like mapped data, kept alive
// with the model.
class OwnedBuffers {
 public:
  uint8_t* allocate(size_t bytes) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* memory = std::aligned_alloc(64, rounded);
    if (!memory) throw Error("out of memory converting a Hugging Face tensor of " + std::to_string(bytes) + " bytes");
    owners_.emplace_back(memory, std::free);
    return static_cast<uint8_t*>(memory);
  }
  std::vector<std::shared_ptr<const void>>& owners() { return owners_; }

 private:
  std::vector<std::shared_ptr<const void>> owners_;
};

TensorInfo view_of(const safetensors::Tensor& source, std::string gguf_name) {
  if (source.shape.empty() || source.shape.size() > 4)
    throw Error("tensor '" + source.name + "' has " + std::to_string(source.shape.size()) + " dimensions, expected 1 to 4");
  if (source.element_count == 0) throw Error("tensor '" + source.name + "' is empty");
  TensorInfo tensor;
  tensor.name = std::move(gguf_name);
  tensor.type = source.type;
  tensor.shape.assign(source.shape.rbegin(), source.shape.rend());  // GGUF lists the innermost dimension first
  tensor.element_count = source.element_count;
  tensor.byte_size = source.byte_size;
  tensor.data = source.data;
  tensor.in_file_mapping = true;  // safetensors tensors are views into the file's read-only map
  return tensor;
}

// Hugging Face orders each head's Q/K rows [first halves of the rotated pairs; second halves]
// (rotate_half); GGUF for interleaved RoPE orders them pair by pair. llama.cpp's convert:
// reshape(heads, 2, head_dim / 2, ...).swapaxes(1, 2). A pure row reordering, so exact.
void permute_rows(TensorInfo& tensor, int64_t heads, OwnedBuffers& buffers) {
  const uint64_t rows = tensor.shape.size() >= 2 ? tensor.shape[1] : tensor.shape[0];
  if (heads <= 0 || rows % static_cast<uint64_t>(heads) != 0 || (rows / static_cast<uint64_t>(heads)) % 2 != 0)
    throw Error("tensor '" + tensor.name + "' has " + std::to_string(rows) + " rows, not " + std::to_string(heads) +
                " heads of an even size");
  const uint64_t head_dim = rows / static_cast<uint64_t>(heads), half = head_dim / 2;
  const uint64_t row_bytes = tensor.byte_size / rows;
  uint8_t* out = buffers.allocate(tensor.byte_size);
  for (uint64_t h = 0; h < static_cast<uint64_t>(heads); ++h)
    for (uint64_t i = 0; i < half; ++i)
      for (uint64_t s = 0; s < 2; ++s)
        std::memcpy(out + (h * head_dim + 2 * i + s) * row_bytes, tensor.data + (h * head_dim + s * half + i) * row_bytes,
                    row_bytes);
  tensor.data = out;
}

float element_as_float(const TensorInfo& tensor, uint64_t index) {
  if (tensor.type == DType::F32) {
    float value;
    std::memcpy(&value, tensor.data + 4 * index, sizeof value);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, tensor.data + 2 * index, sizeof bits);
  return tensor.type == DType::F16 ? half_to_float(bits) : bfloat_to_float(bits);
}

// Gemma: HF's norm computes x * (1 + w); GGUF stores 1 + w, in F32 as llama.cpp writes norms.
void add_one(TensorInfo& tensor, OwnedBuffers& buffers) {
  auto* out = reinterpret_cast<float*>(buffers.allocate(tensor.element_count * sizeof(float)));
  for (uint64_t i = 0; i < tensor.element_count; ++i) out[i] = element_as_float(tensor, i) + 1.0f;
  tensor.type = DType::F32;
  tensor.byte_size = tensor.element_count * sizeof(float);
  tensor.data = reinterpret_cast<const uint8_t*>(out);
}

// The per-expert matrices of one layer and kind as one [cols, rows, experts] tensor.
TensorInfo stack_experts(const std::string& name, const std::map<int64_t, const safetensors::Tensor*>& experts,
                         int64_t n_expert, OwnedBuffers& buffers) {
  if (static_cast<int64_t>(experts.size()) != n_expert || experts.begin()->first != 0 || experts.rbegin()->first != n_expert - 1)
    throw Error("'" + name + "' has " + std::to_string(experts.size()) + " expert tensors, the config says " +
                std::to_string(n_expert));
  const safetensors::Tensor& first = *experts.begin()->second;
  if (first.shape.size() != 2) throw Error("expert tensor '" + first.name + "' is not 2-D");
  TensorInfo tensor = view_of(first, name);
  uint8_t* out = buffers.allocate(first.byte_size * static_cast<size_t>(n_expert));
  for (const auto& [index, expert] : experts) {
    if (expert->type != first.type || expert->shape != first.shape)
      throw Error("expert tensor '" + expert->name + "' differs in type or shape from '" + first.name + "'");
    std::memcpy(out + static_cast<size_t>(index) * first.byte_size, expert->data, first.byte_size);
  }
  tensor.shape.push_back(static_cast<uint64_t>(n_expert));
  tensor.element_count *= static_cast<uint64_t>(n_expert);
  tensor.byte_size *= static_cast<uint64_t>(n_expert);
  tensor.data = out;
  return tensor;
}

// Llama 3.1's rope_scaling {"rope_type": "llama3"} as the per-frequency factors llama.cpp's
// convert writes into rope_freqs.weight.
TensorInfo llama3_rope_factors(const HfConfig& config, const json& scaling, double freq_base, int64_t rope_dims,
                               OwnedBuffers& buffers) {
  const double factor = config.optional_number(scaling, "factor").value_or(8.0);
  const double low_freq_factor = config.optional_number(scaling, "low_freq_factor").value_or(1.0);
  const double high_freq_factor = config.optional_number(scaling, "high_freq_factor").value_or(4.0);
  const double old_context = config.optional_number(scaling, "original_max_position_embeddings").value_or(8192);
  if (!(factor > 0) || !(high_freq_factor > low_freq_factor) || !(low_freq_factor > 0) || !(old_context > 0))
    throw Error(config.path() + ": rope_scaling of type llama3 has impossible factors");
  const double low_freq_wavelen = old_context / low_freq_factor, high_freq_wavelen = old_context / high_freq_factor;
  const auto n = static_cast<size_t>(rope_dims / 2);
  auto* out = reinterpret_cast<float*>(buffers.allocate(n * sizeof(float)));
  for (size_t i = 0; i < n; ++i) {
    const double freq = 1.0 / std::pow(freq_base, static_cast<double>(2 * i) / static_cast<double>(rope_dims));
    const double wavelen = 2 * M_PI / freq;
    double value;
    if (wavelen < high_freq_wavelen) {
      value = 1;
    } else if (wavelen > low_freq_wavelen) {
      value = factor;
    } else {
      const double smooth = (old_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      value = 1 / ((1 - smooth) / factor + smooth);
    }
    out[i] = static_cast<float>(value);
  }
  TensorInfo tensor;
  tensor.name = "rope_freqs.weight";
  tensor.type = DType::F32;
  tensor.shape = {n};
  tensor.element_count = n;
  tensor.byte_size = n * sizeof(float);
  tensor.data = reinterpret_cast<const uint8_t*>(out);
  return tensor;
}

// The shards: those the index names, else every *.safetensors in the folder.
std::vector<std::shared_ptr<safetensors::SafetensorsFile>> open_shards(const fs::path& folder,
                                                                        std::map<std::string, std::string>& expected_shard) {
  std::vector<std::string> names;
  const fs::path index_path = folder / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    const json index = read_json_file(index_path, 64u << 20);
    if (!index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error("'" + index_path.string() + "' has no weight_map object");
    std::set<std::string> distinct;
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) throw Error("'" + index_path.string() + "': the shard of '" + tensor + "' is not a file name");
      const std::string file = shard.get<std::string>();
      // A shard is a file of this folder, never a path elsewhere.
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
        throw Error("'" + index_path.string() + "': shard '" + file + "' is not a file name in the folder");
      expected_shard[tensor] = file;
      distinct.insert(file);
    }
    names.assign(distinct.begin(), distinct.end());
  } else {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(folder, error))
      if (entry.path().extension() == ".safetensors") names.push_back(entry.path().filename().string());
    if (error) throw Error("cannot list '" + folder.string() + "': " + error.message());
    std::sort(names.begin(), names.end());
  }
  if (names.empty())
    throw Error("'" + folder.string() + "' has no *.safetensors weights", "jisu loads Hugging Face folders of safetensors");
  std::vector<std::shared_ptr<safetensors::SafetensorsFile>> shards;
  for (const std::string& name : names) shards.push_back(safetensors::SafetensorsFile::open((folder / name).string()));
  return shards;
}

void set_uint(std::vector<std::pair<std::string, MetadataValue>>& metadata, const std::string& key, int64_t value) {
  metadata.emplace_back(key, gguf::make_integer(ValueType::UINT32, value));
}
void set_float(std::vector<std::pair<std::string, MetadataValue>>& metadata, const std::string& key, double value) {
  metadata.emplace_back(key, gguf::make_float(ValueType::FLOAT32, value));
}

MetadataValue* find_entry(std::vector<std::pair<std::string, MetadataValue>>& metadata, std::string_view key) {
  for (auto& [name, value] : metadata)
    if (name == key) return &value;
  return nullptr;
}

// Checkpoints often have more embedding rows than tokens (padded for speed); llama.cpp fills
// the vocabulary with unused "[PAD<id>]" tokens up to the rows.
void pad_vocabulary(std::vector<std::pair<std::string, MetadataValue>>& metadata, uint64_t rows, const std::string& folder) {
  MetadataValue* tokens = find_entry(metadata, "tokenizer.ggml.tokens");
  if (!tokens) return;
  constexpr uint64_t kMaxVocabulary = 1 << 24;  // real vocabularies stay under 300,000
  if (rows > kMaxVocabulary)
    throw Error("'" + folder + "': the embedding has " + std::to_string(rows) + " rows, more than " +
                std::to_string(kMaxVocabulary) + " tokens");
  if (tokens->strings.size() > rows)
    throw Error("'" + folder + "': tokenizer.json has " + std::to_string(tokens->strings.size()) +
                " tokens but the embedding only " + std::to_string(rows) + " rows");
  MetadataValue* scores = find_entry(metadata, "tokenizer.ggml.scores");
  MetadataValue* types = find_entry(metadata, "tokenizer.ggml.token_type");
  for (uint64_t id = tokens->strings.size(); id < rows; ++id) {
    tokens->strings.push_back("[PAD" + std::to_string(id) + "]");
    if (scores) scores->numbers.push_back(-1000.0);
    if (types) types->integers.push_back(5);  // unused
  }
}

}  // namespace

std::unique_ptr<gguf::GgufFile> load_hf_folder(const std::string& folder_name) {
  const fs::path folder(folder_name);
  const fs::path config_path = folder / "config.json";
  if (!fs::exists(config_path))
    throw Error("'" + folder_name + "' is a folder without config.json", "give a GGUF file or a Hugging Face model folder");
  const HfConfig config(read_json_file(config_path, 16u << 20), config_path.string());
  const std::string model_type = config.optional_string(config.root(), "model_type");
  const auto arch = find_hf_architecture(model_type);
  if (!arch) {
    std::string known;
    for (const auto name : supported_hf_model_types()) known += (known.empty() ? "" : ", ") + std::string(name);
    throw Error(config.path() + ": model_type '" + model_type + "' is not supported", "supported: " + known);
  }
  const std::string a(arch->gguf_name);
  constexpr int64_t kMaxDimension = 1 << 20;
  const int64_t n_embd = config.required_int("hidden_size", 1, kMaxDimension);
  const int64_t n_layer = config.required_int("num_hidden_layers", 1, 4096);
  const int64_t n_head = config.required_int("num_attention_heads", 1, 4096);
  const int64_t n_head_kv = config.optional_int("num_key_value_heads", 1, n_head).value_or(n_head);
  const int64_t n_ff = config.required_int("intermediate_size", 1, kMaxDimension);
  const auto head_dim = config.optional_int("head_dim", 1, 4096);
  const int64_t n_expert = config.optional_int("num_local_experts", 0, 1024).value_or(0);
  const double freq_base = config.optional_number("rope_theta").value_or(10000.0);

  std::vector<std::pair<std::string, MetadataValue>> metadata;
  metadata.emplace_back("general.architecture", gguf::make_string(a));
  const fs::path absolute = fs::absolute(folder).lexically_normal();  // "dir/" and "." name their folder too
  const std::string name = absolute.has_filename() ? absolute.filename().string() : absolute.parent_path().filename().string();
  metadata.emplace_back("general.name", gguf::make_string(name));
  set_uint(metadata, a + ".context_length", config.optional_int("max_position_embeddings", 1, 1 << 24).value_or(2048));
  set_uint(metadata, a + ".embedding_length", n_embd);
  set_uint(metadata, a + ".block_count", n_layer);
  set_uint(metadata, a + ".feed_forward_length", n_ff);
  set_uint(metadata, a + ".attention.head_count", n_head);
  set_uint(metadata, a + ".attention.head_count_kv", n_head_kv);
  set_float(metadata, a + ".rope.freq_base", freq_base);
  set_float(metadata, a + ".attention.layer_norm_rms_epsilon", config.optional_number("rms_norm_eps").value_or(1e-6));
  const int64_t key_length = head_dim.value_or(n_embd / n_head);
  if (head_dim) {
    set_uint(metadata, a + ".attention.key_length", *head_dim);
    set_uint(metadata, a + ".attention.value_length", *head_dim);
  }
  const double rotary_fraction = config.optional_number("partial_rotary_factor").value_or(1.0);
  if (!(rotary_fraction > 0 && rotary_fraction <= 1)) throw Error(config.path() + ": partial_rotary_factor must be in (0, 1]");
  const auto rope_dims = static_cast<int64_t>(rotary_fraction * static_cast<double>(key_length));
  set_uint(metadata, a + ".rope.dimension_count", rope_dims);
  if (n_expert > 0) {
    set_uint(metadata, a + ".expert_count", n_expert);
    set_uint(metadata, a + ".expert_used_count", config.required_int("num_experts_per_tok", 1, n_expert));
  }

  OwnedBuffers buffers;
  std::vector<TensorInfo> tensors;
  if (config.root().contains("rope_scaling") && !config.root()["rope_scaling"].is_null()) {
    const json& scaling = config.root()["rope_scaling"];
    if (!scaling.is_object()) throw Error(config.path() + ": rope_scaling is not an object");
    std::string type = config.optional_string(scaling, "rope_type");
    if (type.empty()) type = config.optional_string(scaling, "type");
    if (type == "linear" || type == "yarn") {
      metadata.emplace_back(a + ".rope.scaling.type", gguf::make_string(type));
      set_float(metadata, a + ".rope.scaling.factor", config.optional_number(scaling, "factor").value_or(1.0));
      if (const auto original = config.optional_number(scaling, "original_max_position_embeddings"))
        set_uint(metadata, a + ".rope.scaling.original_context_length", static_cast<int64_t>(*original));
    } else if (type == "llama3") {
      tensors.push_back(llama3_rope_factors(config, scaling, freq_base, rope_dims, buffers));
    } else if (type != "default") {
      throw Error(config.path() + ": rope_scaling type '" + type + "' is not supported",
                  "supported: linear, yarn, llama3");
    }
  }

  // Tensors: each safetensors name through the architecture's table.
  std::map<std::string, std::string> expected_shard;
  const auto shards = open_shards(folder, expected_shard);
  std::vector<std::shared_ptr<const void>> owners(shards.begin(), shards.end());
  std::map<std::string, std::map<int64_t, const safetensors::Tensor*>> expert_groups;
  std::set<std::string> seen;
  for (const auto& shard : shards) {
    const std::string shard_name = fs::path(shard->path()).filename().string();
    for (const safetensors::Tensor& source : shard->tensors()) {
      if (ends_with(source.name, "rotary_emb.inv_freq")) continue;  // recomputed from rope_theta
      if (const auto expected = expected_shard.find(source.name);
          !expected_shard.empty() && (expected == expected_shard.end() || expected->second != shard_name))
        continue;  // the index assigns this name to another shard (or none): not ours to load
      if (!seen.insert(source.name).second)
        throw Error("tensor '" + source.name + "' appears in more than one safetensors file of '" + folder_name + "'");
      const HfTensorName* row = nullptr;
      int64_t layer = -1, expert = -1;
      for (const HfTensorName& candidate : arch->tensors)
        if (match_name(candidate.hf, source.name, layer, expert)) {
          row = &candidate;
          break;
        }
      if (!row)
        throw Error("tensor '" + source.name + "' of " + shard->path() + " has no GGUF name for model_type '" + model_type + "'",
                    "the checkpoint has a part jisu does not run");
      if (layer >= n_layer)
        throw Error("tensor '" + source.name + "' is for layer " + std::to_string(layer) + " but the config has " +
                    std::to_string(n_layer) + " layers");
      const std::string name = with_layer(row->gguf, layer);
      if (row->hf.find('*') != std::string_view::npos) {
        if (expert >= n_expert)
          throw Error("tensor '" + source.name + "' is for expert " + std::to_string(expert) + " but the config has " +
                      std::to_string(n_expert) + " experts");
        expert_groups[name][expert] = &source;
        continue;
      }
      TensorInfo tensor = view_of(source, name);
      if (arch->permute_qk && (ends_with(name, "attn_q.weight") || ends_with(name, "attn_q.bias"))) permute_rows(tensor, n_head, buffers);
      if (arch->permute_qk && (ends_with(name, "attn_k.weight") || ends_with(name, "attn_k.bias"))) permute_rows(tensor, n_head_kv, buffers);
      if (arch->norm_plus_one && ends_with(name, "norm.weight")) add_one(tensor, buffers);
      tensors.push_back(std::move(tensor));
    }
  }
  for (const auto& [tensor, shard] : expected_shard)
    if (!seen.count(tensor) && !ends_with(tensor, "rotary_emb.inv_freq"))
      throw Error("tensor '" + tensor + "' is not in shard '" + shard + "' where model.safetensors.index.json puts it");
  for (const auto& [name, experts] : expert_groups) tensors.push_back(stack_experts(name, experts, n_expert, buffers));
  for (auto& owner : buffers.owners()) owners.push_back(std::move(owner));

  // The tokenizer, from tokenizer.json as convert_hf_to_gguf.py writes it.
  const fs::path tokenizer_path = folder / "tokenizer.json";
  if (!fs::exists(tokenizer_path))
    throw Error("'" + folder_name + "' has no tokenizer.json", "jisu reads the tokenizer of a Hugging Face folder from tokenizer.json");
  for (auto& entry : gguf_tokenizer_metadata(tokenizer_path.string())) metadata.push_back(std::move(entry));
  const auto embedding = std::find_if(tensors.begin(), tensors.end(), [](const TensorInfo& t) { return t.name == "token_embd.weight"; });
  if (embedding == tensors.end()) throw Error("'" + folder_name + "' has no model.embed_tokens.weight");
  if (embedding->shape.size() == 2) pad_vocabulary(metadata, embedding->shape[1], folder_name);

  return gguf::GgufFile::from_parts(folder_name, std::move(metadata), std::move(tensors), std::move(owners));
}

}  // namespace jisu
