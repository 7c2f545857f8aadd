#include "models/model_config.h"

#include <string>

#include "core/error.h"
#include "format/gguf_file.h"

namespace jisu {
namespace {

class ConfigReader {
 public:
  ConfigReader(const gguf::GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  int32_t required_int(const std::string& suffix, int64_t min_value, int64_t max_value) const {
    const std::string key = arch_ + "." + suffix;
    const auto value = file_.get_int(key);
    if (!value) throw Error("model '" + file_.path() + "' lacks metadata '" + key + "'", "is this a complete GGUF model?");
    return checked(key, *value, min_value, max_value);
  }

  int32_t optional_int(const std::string& suffix, int64_t fallback, int64_t min_value, int64_t max_value) const {
    const std::string key = arch_ + "." + suffix;
    const auto value = file_.get_int(key);
    return value ? checked(key, *value, min_value, max_value) : static_cast<int32_t>(fallback);
  }

  float optional_float(const std::string& suffix, double fallback, double min_value, double max_value) const {
    const std::string key = arch_ + "." + suffix;
    const double value = file_.get_float(key).value_or(fallback);
    if (!(value >= min_value && value <= max_value))
      throw Error("model metadata '" + key + "' = " + std::to_string(value) + " is out of range");
    return static_cast<float>(value);
  }

  std::optional<std::string> optional_string(const std::string& suffix) const {
    return file_.get_string(arch_ + "." + suffix);
  }

 private:
  int32_t checked(const std::string& key, int64_t value, int64_t min_value, int64_t max_value) const {
    if (value < min_value || value > max_value)
      throw Error("model metadata '" + key + "' = " + std::to_string(value) + " is out of range [" +
                  std::to_string(min_value) + ", " + std::to_string(max_value) + "]");
    return static_cast<int32_t>(value);
  }

  const gguf::GgufFile& file_;
  std::string arch_;
};

constexpr int64_t kMaxDimension = 1 << 20;

}  // namespace

ModelConfig read_model_config(const gguf::GgufFile& file) {
  const auto arch_name = file.get_string("general.architecture");
  if (!arch_name) throw Error("model '" + file.path() + "' has no general.architecture", "is it a vocabulary-only GGUF?");
  const auto arch = find_architecture(*arch_name);
  if (!arch) {
    std::string known;
    for (const auto& name : supported_architectures()) known += (known.empty() ? "" : ", ") + name;
    throw Error("architecture '" + *arch_name + "' is not supported", "supported: " + known);
  }
  const ConfigReader reader(file, *arch_name);
  ModelConfig config;
  config.arch = *arch;
  config.activation = arch->activation;
  config.scale_embeddings = arch->scale_embeddings;
  config.causal = arch->causal;
  config.n_embd = reader.required_int("embedding_length", 1, kMaxDimension);
  config.n_layer = reader.required_int("block_count", 1, 4096);
  config.n_head = reader.required_int("attention.head_count", 1, 4096);
  config.n_head_kv = reader.optional_int("attention.head_count_kv", config.n_head, 1, config.n_head);
  if (config.n_head % config.n_head_kv != 0)
    throw Error("model metadata: head_count " + std::to_string(config.n_head) + " is not a multiple of head_count_kv " +
                std::to_string(config.n_head_kv));
  // Without key_length the head dimension is embedding_length / head_count, which must land
  // in the same range as a given one (n_embd 4 with 8 heads gave 0, dividing by zero later).
  const int64_t default_head_dim = config.n_embd / config.n_head;
  if (!file.find(std::string(*arch_name) + ".attention.key_length") && (default_head_dim < 1 || default_head_dim > 4096))
    throw Error("model metadata: embedding_length " + std::to_string(config.n_embd) + " / head_count " +
                    std::to_string(config.n_head) + " gives head dimension " + std::to_string(default_head_dim) +
                    ", outside [1, 4096]",
                "the file must give attention.key_length");
  config.head_dim = reader.optional_int("attention.key_length", default_head_dim, 1, 4096);
  const int32_t value_length = reader.optional_int("attention.value_length", config.head_dim, 1, 4096);
  if (value_length != config.head_dim) throw Error("models whose value_length differs from key_length are not supported");
  if (config.head_dim % 2 != 0) throw Error("model head dimension " + std::to_string(config.head_dim) + " is odd");
  config.n_ff = reader.optional_int("feed_forward_length", 0, 0, kMaxDimension);
  config.context_length = reader.optional_int("context_length", 2048, 1, 1 << 24);
  config.n_expert = reader.optional_int("expert_count", 0, 0, 1024);
  config.n_expert_used = reader.optional_int("expert_used_count", 0, 0, config.n_expert);
  if (config.n_expert > 0 && config.n_expert_used == 0)
    throw Error("model metadata: expert_count is set but expert_used_count is missing or 0");
  config.rms_eps = arch->norm == NormKind::Layer
                       ? reader.optional_float("attention.layer_norm_epsilon", 1e-12, 0.0, 1.0)
                       : reader.optional_float("attention.layer_norm_rms_epsilon", 1e-5, 0.0, 1.0);
  if (!arch->has_output_head) {
    const int32_t pooling = reader.optional_int("pooling_type", static_cast<int32_t>(arch->default_pooling), 0, 3);
    config.pooling = static_cast<Pooling>(pooling);
  }
  if (const auto* tokens = file.get_string_array("tokenizer.ggml.tokens"))
    config.n_vocab = static_cast<int32_t>(tokens->size());
  if (arch->positions == PositionKind::Learned) {
    config.rope.dims = 0;  // nothing rotates: position_embd carries the positions
    return config;
  }

  RopeConfig& rope = config.rope;
  rope.style = arch->rope_style;
  rope.dims = reader.optional_int("rope.dimension_count", config.head_dim, 2, config.head_dim);
  if (rope.dims % 2 != 0) throw Error("model metadata: rope.dimension_count must be even");
  rope.freq_base = reader.optional_float("rope.freq_base", 10000.0, 1e-3, 1e12);
  const std::string scaling = reader.optional_string("rope.scaling.type").value_or("none");
  const float factor = reader.optional_float("rope.scaling.factor", 0.0, 0.0, 1e6);
  // Older files write only scale_linear.
  const float linear = reader.optional_float("rope.scale_linear", 0.0, 0.0, 1e6);
  if (scaling == "linear" || (scaling == "none" && linear > 0 && linear != 1.0f)) {
    rope.scaling = RopeScaling::Linear;
    rope.scaling_factor = factor > 0 ? factor : linear;
  } else if (scaling == "yarn") {
    rope.scaling = RopeScaling::Yarn;
    rope.scaling_factor = factor > 0 ? factor : 1.0f;
    rope.original_context = reader.optional_int("rope.scaling.original_context_length", config.context_length, 1, 1 << 24);
    rope.yarn_attn_factor = reader.optional_float("rope.scaling.attn_factor", 1.0, 0.0, 100.0);
    rope.yarn_beta_fast = reader.optional_float("rope.scaling.yarn_beta_fast", 32.0, 0.0, 1e4);
    rope.yarn_beta_slow = reader.optional_float("rope.scaling.yarn_beta_slow", 1.0, 0.0, 1e4);
  } else if (scaling != "none") {
    throw Error("rope scaling type '" + scaling + "' is not supported", "supported: none, linear, yarn");
  }
  if (rope.scaling != RopeScaling::None && !(rope.scaling_factor > 0))
    throw Error("model metadata: rope scaling factor must be positive");
  return config;
}

}  // namespace jisu
