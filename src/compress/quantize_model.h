#pragma once
// Quantizes a GGUF model file to a file type (compress/quantization_mix.h): every 2-D weight
// (and each matrix of a stacked expert tensor) row by row with compress/quantize_row.h,
// weighted by the importance matrix when one is given; norms, biases and the MoE router stay
// as they are; metadata is copied with general.file_type and general.quantization_version set.
// The output is written to a temporary name and renamed at the end (format/gguf_writer.h): an
// error at any point leaves no file.
#include <cstdint>
#include <cstdio>
#include <string>

#include "compress/quantization_mix.h"
#include "core/thread_pool.h"

namespace jisu::gguf {
class GgufFile;
}

namespace jisu::compress {

struct QuantizeOptions {
  std::string input, output;
  FileType file_type;
  MixOptions mix;
  std::string imatrix;            // path, or empty
  bool allow_requantize = false;  // accept already-quantized weights (dequantized first)
  // Tensors left unquantized (norms, biases, the MoE router) written as F32, as llama.cpp's
  // convert_hf_to_gguf.py writes them (`jisu convert`); otherwise they keep their type.
  bool others_to_f32 = false;
};

struct QuantizeReport {
  uint64_t input_bytes = 0, output_bytes = 0;
  uint64_t weights = 0;  // elements of the quantized tensors
  double seconds = 0;
  size_t imatrix_entries_used = 0;
};

// Progress (one line per tensor, with an ETA) goes to `log`; throws jisu::Error.
QuantizeReport quantize_model(const QuantizeOptions& options, ThreadPool& pool, std::FILE* log);
// The same from a model description already open (a GGUF, or a Hugging Face folder loaded by
// models/hf_folder.h); options.input is not read.
QuantizeReport quantize_model(const gguf::GgufFile& input, const QuantizeOptions& options, ThreadPool& pool,
                              std::FILE* log);

}  // namespace jisu::compress
