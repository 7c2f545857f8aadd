#include "compress/random_model.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "compress/low_rank_factorization.h"
#include "compress/quantize_row.h"
#include "core/error.h"
#include "core/splitmix64.h"
#include "core/thread_pool.h"
#include "format/gguf_writer.h"
#include "format/weight_matrix.h"

namespace jisu {
namespace {

struct FileTypeRule {
  std::string name;
  DType base;
  DType output;
  uint32_t ggml_file_type;  // general.file_type as llama.cpp numbers it
  bool k_mix;               // q4_k_m: Q6_K for some attn_v/ffn_down layers
};

const std::vector<FileTypeRule>& file_type_rules() {
  static const std::vector<FileTypeRule> rules = {
      {"f32", DType::F32, DType::F32, 0, false},      {"f16", DType::F16, DType::F16, 1, false},
      {"bf16", DType::BF16, DType::BF16, 32, false},  {"q8_0", DType::Q8_0, DType::Q8_0, 7, false},
      {"q4_0", DType::Q4_0, DType::Q6_K, 2, false},   {"q4_1", DType::Q4_1, DType::Q6_K, 3, false},
      {"q5_0", DType::Q5_0, DType::Q6_K, 8, false},   {"q5_1", DType::Q5_1, DType::Q6_K, 9, false},
      {"q4_k_m", DType::Q4_K, DType::Q6_K, 15, true},
  };
  return rules;
}

// llama.cpp gives more bits to the first and last eighth of the layers and every third one
// in between (for attn_v and ffn_down in the _M mixes).
bool uses_more_bits(int32_t layer, int32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// Deterministic per-row generator: the same seed gives the same file whatever the threads.
struct RowRandom {
  uint64_t state;
  explicit RowRandom(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() { return splitmix64(state); }
  // Uniform in [-a, a] with a chosen so the standard deviation is `deviation`.
  float uniform(float deviation) {
    const float unit = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    return (unit * 2.0f - 1.0f) * deviation * 1.7320508f;
  }
};

std::vector<std::string> synthetic_vocabulary(int32_t n_vocab, std::vector<int64_t>& types, std::vector<double>& scores) {
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<size_t>(n_vocab));
  tokens.push_back("<unk>");
  tokens.push_back("<s>");
  tokens.push_back("</s>");
  types = {2, 3, 3};
  char byte_name[8];
  for (int byte = 0; byte < 256; ++byte) {
    std::snprintf(byte_name, sizeof byte_name, "<0x%02X>", byte);
    tokens.emplace_back(byte_name);
    types.push_back(6);
  }
  for (int32_t id = static_cast<int32_t>(tokens.size()); id < n_vocab; ++id) {
    tokens.push_back("\xE2\x96\x81t" + std::to_string(id));  // "▁t<id>": distinct pieces
    types.push_back(1);
  }
  scores.resize(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<double>(i);
  return tokens;
}

}  // namespace

const std::vector<ModelShape>& known_model_shapes() {
  static const std::vector<ModelShape> shapes = {
      {"tinyllama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f},
      {"llama-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f},
      // Sheared-LLaMA-1.3B (princeton-nlp): multi-head attention (a KV head per query head) at a
      // small size, so the K/V cache is a large share of what a long-context decode reads.
      {"sheared-llama-1.3b", 2048, 24, 16, 16, 5504, 32000, 4096, 10000.0f},
      {"llama-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f},
      {"qwen2-0.5b", 896, 24, 14, 2, 4864, 151936, 4096, 1000000.0f},
      {"demo", 256, 4, 8, 4, 768, 1024, 512, 10000.0f},
  };
  return shapes;
}

const ModelShape& find_model_shape(const std::string& name) {
  std::string known;
  for (const auto& shape : known_model_shapes()) {
    if (shape.name == name) return shape;
    known += (known.empty() ? "" : ", ") + shape.name;
  }
  throw Error("unknown model shape '" + name + "'", "known shapes: " + known);
}

void write_random_model(const ModelShape& shape, const std::string& file_type, const std::string& path, uint64_t seed,
                        size_t threads, double low_rank_ratio) {
  if (!(low_rank_ratio >= 0 && low_rank_ratio <= 1)) throw Error("the low-rank ratio must be in (0, 1]");
  const FileTypeRule* rule = nullptr;
  std::string known;
  for (const auto& candidate : file_type_rules()) {
    if (candidate.name == file_type) rule = &candidate;
    known += (known.empty() ? "" : ", ") + candidate.name;
  }
  if (!rule) throw Error("unknown model file type '" + file_type + "'", "known types: " + known);

  gguf::GgufWriter writer;
  const std::string arch = "llama";
  writer.set_string("general.architecture", arch);
  writer.set_string("general.name", "jisu random " + shape.name + " " + file_type);
  writer.set_uint32("general.file_type", rule->ggml_file_type);
  writer.set_uint32("general.quantization_version", 2);
  writer.set_uint32(arch + ".context_length", static_cast<uint32_t>(shape.context_length));
  writer.set_uint32(arch + ".embedding_length", static_cast<uint32_t>(shape.n_embd));
  writer.set_uint32(arch + ".block_count", static_cast<uint32_t>(shape.n_layer));
  writer.set_uint32(arch + ".feed_forward_length", static_cast<uint32_t>(shape.n_ff));
  writer.set_uint32(arch + ".attention.head_count", static_cast<uint32_t>(shape.n_head));
  writer.set_uint32(arch + ".attention.head_count_kv", static_cast<uint32_t>(shape.n_head_kv));
  writer.set_float32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  writer.set_float32(arch + ".rope.freq_base", shape.rope_base);
  writer.set_uint32(arch + ".rope.dimension_count", static_cast<uint32_t>(shape.n_embd / shape.n_head));
  std::vector<int64_t> token_types;
  std::vector<double> scores;
  writer.set_string("tokenizer.ggml.model", "llama");
  writer.set_string_array("tokenizer.ggml.tokens", synthetic_vocabulary(shape.n_vocab, token_types, scores));
  writer.set_float_array("tokenizer.ggml.scores", scores);
  writer.set_int_array("tokenizer.ggml.token_type", gguf::ValueType::INT32, token_types);
  writer.set_uint32("tokenizer.ggml.bos_token_id", 1);
  writer.set_uint32("tokenizer.ggml.eos_token_id", 2);
  writer.set_uint32("tokenizer.ggml.unknown_token_id", 0);
  writer.set_bool("tokenizer.ggml.add_bos_token", true);

  auto pool = std::make_shared<ThreadPool>(threads);
  uint64_t tensor_index = 0;
  // Matrices are generated and quantized row by row inside the writer's fill callback, so
  // even an 8B model never exists as floats in memory.
  const auto add_matrix = [&](const std::string& name, DType type, int64_t rows, int64_t cols, float deviation) {
    const uint64_t tensor_seed = seed * 1000003ull + tensor_index++;
    const size_t bytes_per_row = row_bytes(type, static_cast<size_t>(cols));
    writer.add_tensor(name, type, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                      [pool, type, rows, cols, deviation, tensor_seed, bytes_per_row](uint8_t* out, size_t) {
                        const size_t rows_per_task = 64;
                        const size_t n_tasks = (static_cast<size_t>(rows) + rows_per_task - 1) / rows_per_task;
                        pool->parallel_for(n_tasks, [&](size_t task, size_t) {
                          std::vector<float> values(static_cast<size_t>(cols));
                          const size_t end = std::min(static_cast<size_t>(rows), (task + 1) * rows_per_task);
                          for (size_t row = task * rows_per_task; row < end; ++row) {
                            RowRandom random(tensor_seed * 0x100000001B3ull + row);
                            for (auto& value : values) value = random.uniform(deviation);
                            compress::quantize_row(type, values.data(), out + row * bytes_per_row, values.size());
                          }
                        });
                      });
  };
  // A layer linear: whole, or as the pair `jisu lowrank` writes (same types as the whole one).
  const auto add_linear = [&](const std::string& name, DType type, int64_t rows, int64_t cols, float deviation) {
    const int64_t rank = low_rank_ratio > 0 ? compress::low_rank_for_ratio(rows, cols, low_rank_ratio, 32) : 0;
    if (low_rank_ratio > 0 && rank == 0)
      throw Error("the low-rank ratio " + std::to_string(low_rank_ratio) + " leaves " + name + " a rank of zero");
    if (rank == 0) return add_matrix(name, type, rows, cols, deviation);
    add_matrix(name + std::string(kLowRankASuffix), type, rows, rank, deviation);
    add_matrix(name + std::string(kLowRankBSuffix), type, rank, cols, deviation);
  };
  const auto add_norm = [&](const std::string& name) {
    writer.add_tensor(name, DType::F32, {static_cast<uint64_t>(shape.n_embd)}, [n = shape.n_embd](uint8_t* out, size_t) {
      const float one = 1.0f;
      for (int32_t i = 0; i < n; ++i) std::memcpy(out + i * sizeof(float), &one, sizeof(float));
    });
  };

  const int64_t d = shape.n_embd, head_dim = shape.n_embd / shape.n_head;
  const int64_t kv_dim = head_dim * shape.n_head_kv;
  const float deviation = 0.02f;
  add_matrix("token_embd.weight", rule->k_mix ? DType::Q4_K : rule->base, shape.n_vocab, d, deviation);
  add_norm("output_norm.weight");
  add_matrix("output.weight", rule->output, shape.n_vocab, d, deviation);
  for (int32_t layer = 0; layer < shape.n_layer; ++layer) {
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    const DType wide = rule->k_mix && uses_more_bits(layer, shape.n_layer) ? DType::Q6_K : rule->base;
    add_norm(prefix + "attn_norm.weight");
    add_linear(prefix + "attn_q.weight", rule->base, d, d, deviation);
    add_linear(prefix + "attn_k.weight", rule->base, kv_dim, d, deviation);
    add_linear(prefix + "attn_v.weight", wide, kv_dim, d, deviation);
    add_linear(prefix + "attn_output.weight", rule->base, d, d, deviation);
    add_norm(prefix + "ffn_norm.weight");
    add_linear(prefix + "ffn_gate.weight", rule->base, shape.n_ff, d, deviation);
    add_linear(prefix + "ffn_up.weight", rule->base, shape.n_ff, d, deviation);
    add_linear(prefix + "ffn_down.weight", wide, d, shape.n_ff, deviation);
  }
  writer.write(path);
}

}  // namespace jisu
