#include "models/architecture.h"

namespace jisu {
namespace {

// Fused QKV (phi3) and fused gate/up, biases, MoE and per-head Q/K norms are detected from the
// tensors a file contains, so they need no flag here.
const std::vector<ArchitectureTraits>& table() {
  static const std::vector<ArchitectureTraits> rows = {
      {"llama", RopeStyle::Interleaved, FeedForwardActivation::SiLU, false, true},
      {"mistral", RopeStyle::Interleaved, FeedForwardActivation::SiLU, false, true},
      {"qwen2", RopeStyle::NeoX, FeedForwardActivation::SiLU, false, true},
      {"qwen3", RopeStyle::NeoX, FeedForwardActivation::SiLU, false, true},
      {"phi3", RopeStyle::NeoX, FeedForwardActivation::SiLU, false, true},
      {"gemma", RopeStyle::NeoX, FeedForwardActivation::GeluTanh, true, true},
      {.name = "bert",
       .activation = FeedForwardActivation::GeluErf,
       .output_may_be_tied = false,
       .norm = NormKind::Layer,
       .norm_placement = NormPlacement::Post,
       .positions = PositionKind::Learned,
       .causal = false,
       .has_output_head = false,
       .default_pooling = Pooling::Mean},
  };
  return rows;
}

}  // namespace

std::optional<ArchitectureTraits> find_architecture(std::string_view name) {
  for (const auto& row : table())
    if (row.name == name) return row;
  return std::nullopt;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& row : table()) names.push_back(row.name);
  return names;
}

}  // namespace jisu
