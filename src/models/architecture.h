#pragma once
// What distinguishes the supported architectures, as data. The one transformer in
// transformer.cpp reads these flags; adding an architecture is adding a row to the table in
// architecture.cpp, not writing a forward function.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend_shape.h"
#include "backends/rope.h"

namespace jisu {

enum class NormKind {
  Rms,    // x / rms(x) * weight
  Layer,  // (x - mean) / std(x) * weight + bias (BERT)
};

enum class NormPlacement {
  Pre,   // norm, sublayer, residual add (llama): blk.N.attn_norm / ffn_norm
  Post,  // sublayer, residual add, norm (BERT): blk.N.attn_output_norm / layer_output_norm
};

enum class PositionKind {
  Rotary,   // RoPE on Q and K
  Learned,  // a learned position_embd row (plus token_types row 0) added to the token embedding
};

// How the final hidden states of an encoder become one vector per input; llama.cpp's
// `<arch>.pooling_type` numbers.
enum class Pooling { None = 0, Mean = 1, Cls = 2, Last = 3 };

struct ArchitectureTraits {
  std::string name;                // general.architecture value
  RopeStyle rope_style = RopeStyle::Interleaved;
  FeedForwardActivation activation = FeedForwardActivation::SiLU;
  bool scale_embeddings = false;   // gemma: token embeddings multiplied by sqrt(n_embd)
  bool output_may_be_tied = true;  // missing output.weight means reuse token_embd.weight
  NormKind norm = NormKind::Rms;
  NormPlacement norm_placement = NormPlacement::Pre;
  PositionKind positions = PositionKind::Rotary;
  bool causal = true;              // false: bidirectional attention within each input
  // false: an encoder (BERT) whose output is the last hidden states, pooled into embeddings;
  // it has no output_norm / output.weight and cannot generate.
  bool has_output_head = true;
  Pooling default_pooling = Pooling::None;  // when the file gives no <arch>.pooling_type
};

// nullopt for an architecture this build does not implement.
std::optional<ArchitectureTraits> find_architecture(std::string_view name);
std::vector<std::string> supported_architectures();

}  // namespace jisu
