#pragma once
// How a Hugging Face checkpoint of each supported architecture maps onto the GGUF model the
// engine runs, as data: config.json's model_type -> general.architecture, and the tensor-name
// table (as llama.cpp's convert_hf_to_gguf.py names them). Adding an architecture to Hugging
// Face loading is adding a row here.
#include <optional>
#include <string_view>
#include <vector>

namespace jisu {

// In names, '#' stands for the layer index and '*' for the expert index.
struct HfTensorName {
  std::string_view hf;
  std::string_view gguf;
};

struct HfArchitecture {
  std::string_view model_type;  // config.json "model_type"
  std::string_view gguf_name;   // general.architecture
  // Q/K rows in Hugging Face's rotate-half order, which GGUF stores for interleaved ("normal")
  // RoPE in pair order: llama.cpp's convert permutes them (models/hf_folder.cpp does the same).
  bool permute_qk = false;
  // Gemma's RMSNorm multiplies by (1 + w); GGUF stores 1 + w.
  bool norm_plus_one = false;
  std::vector<HfTensorName> tensors;
};

std::optional<HfArchitecture> find_hf_architecture(std::string_view model_type);
std::vector<std::string_view> supported_hf_model_types();

}  // namespace jisu
