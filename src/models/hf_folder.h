#pragma once
// A Hugging Face model folder (config.json, tokenizer.json [+ tokenizer_config.json],
// *.safetensors with or without model.safetensors.index.json) presented as the model
// description a GGUF file gives: GGUF metadata keys as llama.cpp's convert_hf_to_gguf.py writes
// them and tensors under their GGUF names and shapes. Tensors stay in the memory-mapped
// safetensors files, except the few a conversion must rewrite, which are computed once at load:
// Q/K of interleaved-RoPE architectures (rows permuted as llama.cpp does, an exact reordering),
// Gemma's norms (1 + w, in F32), Mixtral's experts (stacked) and Llama 3's rope_freqs.
// Everything downstream (config, weights, tokenizer, chat template, `jisu convert`) reads it as
// it reads a GGUF. Bad folders throw one jisu::Error naming the file and the problem.
#include <memory>
#include <string>

#include "format/gguf_file.h"

namespace jisu {

std::unique_ptr<gguf::GgufFile> load_hf_folder(const std::string& folder);

}  // namespace jisu
