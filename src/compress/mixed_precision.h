#pragma once
// Mixed-precision quantization at a size budget (`jisu quantize --target-bpw B`):
//  1. sensitivity: for every quantizable tensor and every candidate type, the tensor alone is
//     quantized (everything else stays at the input's precision, the model in memory with that
//     one matrix swapped) and the mean KL divergence of the model's next-token distributions
//     against the input model's is measured on calibration chunks (compress/chunked_evaluation.h);
//  2. allocation: one type per tensor minimising the summed KLD with the summed bits at most
//     B x (elements of the quantizable tensors), exactly, by dynamic programming (compress/bit_allocation.h).
//     Tensors matching --keep stay at the input type and count at their size in the budget.
// Each candidate is quantized once; the chosen tensors' bytes are handed to the writer
// (compress/quantize_model.h: ChosenType) unless they would exceed max_bytes_held, in which case
// the writer quantizes again (deterministically, to the same bytes).
#include <cstdint>
#include <cstdio>
#include <map>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include "compress/chunked_evaluation.h"
#include "compress/quantize_model.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "models/model.h"

namespace jisu::compress {

// Standard GGUF types every GGUF reader knows, from 2.625 to 8.5 bits per weight.
inline constexpr const char* kDefaultCandidateTypes = "q2_k,q3_k,iq4_xs,q4_k,q5_k,q6_k,q8_0";

struct MixedPrecisionOptions {
  double target_bpw = 0;
  std::vector<DType> candidates;
  std::vector<std::regex> keep;
  std::string imatrix;  // path, or empty
  bool allow_requantize = false;
  std::vector<int32_t> calibration_tokens;  // already cut to plan.n_chunks chunks of plan.n_ctx
  ChunkPlan calibration_plan;
  size_t max_bytes_held = size_t{2} << 30;  // quantized candidate bytes kept for the writer
};

struct CandidateMeasurement {
  DType type = DType::F32;
  uint64_t bits = 0;
  double kld = 0;  // mean KL divergence (nats per scored token) with only this tensor quantized
  std::shared_ptr<const uint8_t> bytes;  // bits / 8 bytes, or null when not held
};

struct TensorPlan {
  std::string name;
  DType input_type = DType::F32;
  uint64_t elements = 0, input_bits = 0;
  bool kept = false;
  std::vector<CandidateMeasurement> candidates;  // empty when kept
  size_t chosen = 0;                             // index into candidates
};

struct MixedPrecisionPlan {
  std::vector<TensorPlan> tensors;  // the quantizable tensors, in file order
  uint64_t weights = 0;             // their elements
  uint64_t budget_bits = 0, bits = 0;
  double predicted_kld = 0;  // sum of the chosen candidates' KLDs
  bool exact_allocation = false;  // the allocation is the optimum itself (bit_allocation.h)
  size_t evaluations = 0;
  double seconds = 0;
  double bits_per_weight() const { return weights ? static_cast<double>(bits) / static_cast<double>(weights) : 0.0; }
  std::map<std::string, ChosenType> chosen_types() const;
  DType dominant_type() const;  // the chosen type covering the most weights (general.file_type)
};

// The bits per weight of a type's blocks (Q4_K: 4.5).
double type_bits_per_weight(DType type);

// Checks every option (budget against the candidates and the input, --keep against the budget,
// the imatrix) before measuring anything; throws jisu::Error with one line. Progress to `log`.
MixedPrecisionPlan plan_mixed_precision(const Model& model, const MixedPrecisionOptions& options, ThreadPool& pool,
                                        std::FILE* log);

}  // namespace jisu::compress
