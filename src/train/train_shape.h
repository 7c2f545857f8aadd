#pragma once
// The shape of a llama-family model being trained, and where each parameter tensor lives in
// one flat array (names and orientation as GGUF stores them: a matrix of `rows` x `cols` is
// `rows` output rows of `cols` inputs, ggml shape {cols, rows}).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace jisu::train {

struct TrainShape {
  int32_t n_vocab = 0;
  int32_t dim = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t context_length = 0;  // written to the file's metadata (positions trained: the window)
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_output = false;  // logits use token_embd (no output.weight)
  bool rope_neox = false;    // NeoX half-split RoPE instead of llama's interleaved pairs
  // The head dimension when it is not dim / n_head (a structured-pruned model keeps its heads'
  // width but fewer heads: attn_q is then [n_head * head_dim, dim]); 0: dim / n_head.
  int32_t key_length = 0;
  // Layer linears stored as a low-rank pair W = A B (jisu lowrank: "<name>.lowrank_a", rows x
  // rank, and "<name>.lowrank_b", rank x cols), trained as the two matrices: dense name -> rank.
  std::map<std::string, int32_t> low_rank;

  int32_t head_dim() const { return key_length > 0 ? key_length : (n_head > 0 ? dim / n_head : 0); }
  int32_t q_width() const { return n_head * head_dim(); }  // rows of attn_q, columns of attn_output
  // Throws jisu::Error naming the first impossible value.
  void validate() const;
};

struct ParameterTensor {
  std::string name;
  size_t rows = 0;  // 1 for a vector
  size_t cols = 0;
  size_t offset = 0;  // in elements, into the flat parameter array
  bool is_norm = false;
  size_t size() const { return rows * cols; }
};

class ParameterLayout {
 public:
  explicit ParameterLayout(const TrainShape& shape);
  const std::vector<ParameterTensor>& tensors() const { return tensors_; }
  size_t total() const { return total_; }
  const ParameterTensor& find(const std::string& name) const;  // throws if absent
  // A layer's linear: dense W at `a` (rank 0), or the pair A at `a`, B at `b`.
  struct Linear {
    size_t a = 0, b = 0, rank = 0;
  };
  // Offsets of the tensors of one layer / of the model, for the forward pass.
  struct Layer {
    size_t attn_norm, ffn_norm;
    Linear wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  const std::vector<Layer>& layers() const { return layers_; }
  size_t token_embd() const { return token_embd_; }
  size_t output_norm() const { return output_norm_; }
  size_t output() const { return output_; }  // == token_embd() when tied

 private:
  size_t add(std::string name, size_t rows, size_t cols, bool is_norm);
  Linear add_linear(const TrainShape& shape, const std::string& name, size_t rows, size_t cols);
  std::vector<ParameterTensor> tensors_;
  std::vector<Layer> layers_;
  size_t total_ = 0, token_embd_ = 0, output_norm_ = 0, output_ = 0;
};

// Initial values as the demo recipe: every matrix normal(0, 0.02), norms 1; deterministic for
// a seed.
void initialize_parameters(const ParameterLayout& layout, uint64_t seed, float* params);

}  // namespace jisu::train
