#pragma once
// KL divergence of a model's next-token distributions against a base model's, over the scored
// positions of the perplexity chunks (compress/chunked_evaluation.h).
//
// The base file (written by `jisu perplexity --kl-divergence-base FILE`):
//   "JISUKLD1" | uint32 n_vocab, n_ctx, n_chunks, scored_per_chunk | int32 tokens[n_chunks * n_ctx]
//   | per scored row: float minimum, float step, uint16 level[n_vocab]
// with log p(token) ~= minimum + step * level. Log-probabilities below kFloorLogProbability
// are stored as the floor: such tokens carry p < 1e-13, nothing a divergence can see, and the
// floor keeps the step (hence the error of every stored value) below 5e-4 nats.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/atomic_file.h"

namespace jisu::compress {

inline constexpr double kFloorLogProbability = -30.0;

struct KlBaseHeader {
  uint32_t n_vocab = 0, n_ctx = 0, n_chunks = 0, scored_per_chunk = 0;
};

class KlBaseWriter {
 public:
  KlBaseWriter(const std::string& path, const KlBaseHeader& header, std::span<const int32_t> tokens);
  void add_row(std::span<const float> logits);  // one scored row, in chunk order
  void commit();                                 // rename into place once every row is added

 private:
  AtomicFile file_;
  KlBaseHeader header_;
  size_t rows_ = 0;
  std::vector<uint16_t> levels_;
};

class KlBaseReader {
 public:
  // Throws jisu::Error naming the file when it is not a base file or is truncated.
  explicit KlBaseReader(const std::string& path);
  const KlBaseHeader& header() const { return header_; }
  std::span<const int32_t> tokens() const { return tokens_; }
  // Log-probabilities of scored row `row` (chunk * scored_per_chunk + r), decoded into `out`.
  void read_row(size_t row, std::span<double> out) const;

 private:
  KlBaseHeader header_;
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> rows_;  // the rows' bytes
  size_t row_bytes_ = 0;
};

// Accumulates per-row comparisons of a model against the base.
class KlStatistics {
 public:
  // base_log_probabilities: the base row; logits: the model's row; target: the true next token.
  void add_row(std::span<const double> base_log_probabilities, std::span<const float> logits, int32_t target);
  size_t rows() const { return kld_.size(); }
  double mean_kld() const;
  double mean_kld_error() const;
  double kld_quantile(double fraction) const;  // 0.5: median, 1: maximum
  double same_top_fraction() const;
  double mean_log_ppl_ratio() const;  // mean of nll(model) - nll(base) = ln(PPL(Q)/PPL(base))
  double mean_log_ppl_ratio_error() const;
  double delta_p_rms() const;  // RMS of p_model(target) - p_base(target)
  double base_perplexity() const;

 private:
  std::vector<double> kld_;
  double kld_sum_ = 0, kld_sum2_ = 0;
  double ratio_sum_ = 0, ratio_sum2_ = 0;
  double base_nll_sum_ = 0;
  double delta_p_sum2_ = 0;
  size_t same_top_ = 0;
  mutable std::vector<double> sorted_;
};

}  // namespace jisu::compress
