#pragma once
// Quantizes a GGUF model file to a file type (compress/quantization_mix.h): every 2-D weight
// (and each matrix of a stacked expert tensor) row by row with compress/quantize_row.h,
// weighted by the importance matrix when one is given; norms, biases and the MoE router stay
// as they are; metadata is copied with general.file_type and general.quantization_version set.
// The output is written to a temporary name and renamed at the end (format/gguf_writer.h): an
// error at any point leaves no file.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "compress/quantization_mix.h"
#include "core/thread_pool.h"

namespace jisu::gguf {
class GgufFile;
struct TensorInfo;
}  // namespace jisu::gguf

namespace jisu::compress {

class ImportanceMatrix;
struct ImportanceEntry;

// A type chosen for one tensor outside the mix (`--target-bpw`, compress/mixed_precision.h),
// with the tensor's bytes in that type when they were already made (null: quantize when writing).
struct ChosenType {
  DType type = DType::F32;
  std::shared_ptr<const uint8_t> bytes;  // rows x row_bytes(type, cols)
};

struct QuantizeOptions {
  std::string input, output;
  FileType file_type;
  MixOptions mix;
  std::string imatrix;            // path, or empty
  bool allow_requantize = false;  // accept already-quantized weights (dequantized first)
  // Tensors left unquantized (norms, biases, the MoE router) written as F32, as llama.cpp's
  // convert_hf_to_gguf.py writes them (`jisu convert`); otherwise they keep their type.
  bool others_to_f32 = false;
  // `--keep`: quantizable tensors whose name matches any of these keep their input type and bytes.
  std::vector<std::regex> keep;
  // Per-tensor types that replace the mix's (and its row fallback) for the tensors named.
  std::map<std::string, ChosenType> chosen_types;
};

struct QuantizeReport {
  uint64_t input_bytes = 0, output_bytes = 0;
  uint64_t weights = 0;  // elements of the quantizable tensors (--keep's too)
  double seconds = 0;
  size_t imatrix_entries_used = 0;
};

// Weights a quantizer changes (2-D *.weight matrices except norms, the MoE router and BERT's
// position tables; low-rank factors; not jisu's sparse storage).
bool is_quantizable(const gguf::TensorInfo& tensor);
bool is_kept(const std::string& name, const std::vector<std::regex>& keep);  // matches a --keep pattern

// The importance entry for `tensor` (null when the imatrix has none); throws jisu::Error when its
// shape is another model's.
const ImportanceEntry* importance_for(const ImportanceMatrix& imatrix, const gguf::TensorInfo& tensor);
// Quantizes (or converts) every row of `tensor` to `type` into `out` (rows x row_bytes(type, cols)
// bytes); each matrix of a stacked tensor weighted by its own importance when `importance` is set.
// cb4 needs `codebooks` (16 levels per matrix); i8_row fills `row_scales` (one per row).
void quantize_tensor(const gguf::TensorInfo& tensor, DType type, const ImportanceMatrix* imatrix,
                     const ImportanceEntry* importance, uint8_t* out, ThreadPool& pool,
                     const int8_t* codebooks = nullptr, float* row_scales = nullptr);

// Progress (one line per tensor, with an ETA) goes to `log`; throws jisu::Error.
QuantizeReport quantize_model(const QuantizeOptions& options, ThreadPool& pool, std::FILE* log);
// The same from a model description already open (a GGUF, or a Hugging Face folder loaded by
// models/hf_folder.h); options.input is not read.
QuantizeReport quantize_model(const gguf::GgufFile& input, const QuantizeOptions& options, ThreadPool& pool,
                              std::FILE* log);

}  // namespace jisu::compress
