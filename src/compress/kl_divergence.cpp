#include "compress/kl_divergence.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "compress/chunked_evaluation.h"
#include "core/error.h"

namespace jisu::compress {
namespace {

constexpr char kMagic[8] = {'J', 'I', 'S', 'U', 'K', 'L', 'D', '1'};

size_t row_bytes_for(uint32_t n_vocab) { return 2 * sizeof(float) + n_vocab * sizeof(uint16_t); }

}  // namespace

KlBaseWriter::KlBaseWriter(const std::string& path, const KlBaseHeader& header, std::span<const int32_t> tokens)
    : file_(path), header_(header), levels_(header.n_vocab) {
  file_.write(kMagic, sizeof kMagic);
  file_.write(&header_, sizeof header_);
  file_.write(tokens.data(), tokens.size_bytes());
}

void KlBaseWriter::add_row(std::span<const float> logits) {
  const LogSoftmax normaliser = log_softmax(logits);
  double maximum = kFloorLogProbability;
  for (const float logit : logits) maximum = std::max(maximum, normaliser.log_probability(logit));
  const auto minimum = static_cast<float>(kFloorLogProbability);
  const auto step = static_cast<float>((maximum - kFloorLogProbability) / 65535.0);
  for (size_t i = 0; i < logits.size(); ++i) {
    const double value = std::max(kFloorLogProbability, normaliser.log_probability(logits[i]));
    const double level = step > 0 ? std::round((value - minimum) / step) : 0.0;
    levels_[i] = static_cast<uint16_t>(std::clamp(level, 0.0, 65535.0));
  }
  file_.write(&minimum, sizeof minimum);
  file_.write(&step, sizeof step);
  file_.write(levels_.data(), levels_.size() * sizeof(uint16_t));
  ++rows_;
}

void KlBaseWriter::commit() {
  if (rows_ != static_cast<size_t>(header_.n_chunks) * header_.scored_per_chunk)
    throw Error("internal: the KL base file got " + std::to_string(rows_) + " rows");
  file_.commit();
}

KlBaseReader::KlBaseReader(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the KL divergence base file '" + path + "'");
  char magic[sizeof kMagic];
  if (!in.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    throw Error("'" + path + "' is not a KL divergence base file",
                "make one with `jisu perplexity -m BASE -f TEXT --kl-divergence-base FILE`");
  if (!in.read(reinterpret_cast<char*>(&header_), sizeof header_) || header_.n_vocab == 0 || header_.n_ctx == 0 ||
      header_.n_vocab > (1u << 24) || header_.n_ctx > (1u << 24) || header_.n_chunks > (1u << 24))
    throw Error("'" + path + "': the KL divergence base header is damaged");
  tokens_.resize(static_cast<size_t>(header_.n_chunks) * header_.n_ctx);
  if (!in.read(reinterpret_cast<char*>(tokens_.data()), static_cast<std::streamsize>(tokens_.size() * sizeof(int32_t))))
    throw Error("'" + path + "' is truncated (tokens)");
  row_bytes_ = row_bytes_for(header_.n_vocab);
  const size_t n_rows = static_cast<size_t>(header_.n_chunks) * header_.scored_per_chunk;
  rows_.resize(n_rows * row_bytes_);
  if (!in.read(reinterpret_cast<char*>(rows_.data()), static_cast<std::streamsize>(rows_.size())))
    throw Error("'" + path + "' is truncated (" + std::to_string(n_rows) + " rows expected)");
  if (in.peek() != std::char_traits<char>::eof()) throw Error("'" + path + "' has bytes after its last row");
}

void KlBaseReader::read_row(size_t row, std::span<double> out) const {
  const uint8_t* bytes = rows_.data() + row * row_bytes_;
  float minimum, step;
  std::memcpy(&minimum, bytes, sizeof minimum);
  std::memcpy(&step, bytes + sizeof(float), sizeof step);
  const uint8_t* levels = bytes + 2 * sizeof(float);
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t level;
    std::memcpy(&level, levels + 2 * i, sizeof level);
    out[i] = minimum + static_cast<double>(step) * level;
  }
}

void KlStatistics::add_row(std::span<const double> base, std::span<const float> logits, int32_t target) {
  const LogSoftmax normaliser = log_softmax(logits);
  // The stored base row sums to 1 only up to its quantization: renormalise it so that a model
  // identical to the base scores 0 up to rounding.
  double base_sum = 0;
  for (const double value : base) base_sum += std::exp(value);
  const double base_log_sum = std::log(base_sum);
  double kld = 0;
  size_t base_top = 0, model_top = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double log_p = base[i] - base_log_sum;
    kld += std::exp(log_p) * (log_p - normaliser.log_probability(logits[i]));
    if (base[i] > base[base_top]) base_top = i;
    if (logits[i] > logits[model_top]) model_top = i;
  }
  kld = std::max(0.0, kld);
  kld_.push_back(kld);
  kld_sum_ += kld;
  kld_sum2_ += kld * kld;
  const auto t = static_cast<size_t>(target);
  const double base_nll = -(base[t] - base_log_sum), model_nll = -normaliser.log_probability(logits[t]);
  ratio_sum_ += model_nll - base_nll;
  ratio_sum2_ += (model_nll - base_nll) * (model_nll - base_nll);
  base_nll_sum_ += base_nll;
  const double delta_p = std::exp(-model_nll) - std::exp(-base_nll);
  delta_p_sum2_ += delta_p * delta_p;
  same_top_ += base_top == model_top;
  sorted_.clear();
}

namespace {
double mean_error(double sum, double sum2, size_t n) {
  if (n < 2) return 0;
  const double mean = sum / static_cast<double>(n);
  const double variance = sum2 / static_cast<double>(n) - mean * mean;
  return variance > 0 ? std::sqrt(variance / static_cast<double>(n - 1)) : 0.0;
}
}  // namespace

double KlStatistics::mean_kld() const { return rows() ? kld_sum_ / static_cast<double>(rows()) : 0.0; }
double KlStatistics::mean_kld_error() const { return mean_error(kld_sum_, kld_sum2_, rows()); }
double KlStatistics::kld_quantile(double fraction) const {
  if (kld_.empty()) return 0;
  if (sorted_.empty()) {
    sorted_ = kld_;
    std::sort(sorted_.begin(), sorted_.end());
  }
  const auto index = static_cast<size_t>(std::llround(fraction * static_cast<double>(sorted_.size() - 1)));
  return sorted_[std::min(index, sorted_.size() - 1)];
}
double KlStatistics::same_top_fraction() const {
  return rows() ? static_cast<double>(same_top_) / static_cast<double>(rows()) : 0.0;
}
double KlStatistics::mean_log_ppl_ratio() const { return rows() ? ratio_sum_ / static_cast<double>(rows()) : 0.0; }
double KlStatistics::mean_log_ppl_ratio_error() const { return mean_error(ratio_sum_, ratio_sum2_, rows()); }
double KlStatistics::delta_p_rms() const {
  return rows() ? std::sqrt(delta_p_sum2_ / static_cast<double>(rows())) : 0.0;
}
double KlStatistics::base_perplexity() const {
  return rows() ? std::exp(base_nll_sum_ / static_cast<double>(rows())) : 0.0;
}

}  // namespace jisu::compress
