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

struct ArchitectureTraits {
  std::string name;                // general.architecture value
  RopeStyle rope_style = RopeStyle::Interleaved;
  FeedForwardActivation activation = FeedForwardActivation::SiLU;
  bool scale_embeddings = false;   // gemma: token embeddings multiplied by sqrt(n_embd)
  bool output_may_be_tied = true;  // missing output.weight means reuse token_embd.weight
};

// nullopt for an architecture this build does not implement.
std::optional<ArchitectureTraits> find_architecture(std::string_view name);
std::vector<std::string> supported_architectures();

}  // namespace jisu
