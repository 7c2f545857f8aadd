#include "runtime/sampler.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "core/error.h"

namespace jisu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

// A candidate is one 64-bit key: the high half is the logit's bit pattern mapped to an unsigned
// integer that orders like the float, the low half the bit-inverted token id. A larger key is a
// more likely token, ties broken by the lower id: a strict total order (NaN never gets here, and
// -0 is folded into +0), so sorting any range gives the same result everywhere, and comparisons
// are plain integer compares without indirection.
uint64_t candidate_key(float logit, int32_t token) {
  uint32_t bits = std::bit_cast<uint32_t>(logit + 0.0f);  // -0 + 0 = +0
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (uint64_t(bits) << 32) | uint64_t(~uint32_t(token));
}
int32_t key_token(uint64_t key) { return int32_t(~uint32_t(key)); }
float key_logit(uint64_t key) {
  uint32_t bits = uint32_t(key >> 32);
  bits = (bits & 0x80000000u) ? (bits & 0x7FFFFFFFu) : ~bits;
  return std::bit_cast<float>(bits);
}

uint64_t random_seed() {
  try {
    std::random_device device;
    return (uint64_t(device()) << 32) ^ uint64_t(device());
  } catch (const std::exception&) {
    // No entropy source: the clock is still different per run.
    return uint64_t(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  }
}

}  // namespace

void SamplingParams::validate() const {
  if (!(std::isfinite(temperature) && temperature >= 0.0f))
    throw Error("temperature must be a finite number >= 0, got " + format_number(temperature),
                "use 0 for greedy decoding; 0.7-1.0 is typical for sampling");
  if (!(top_p > 0.0f && top_p <= 1.0f))
    throw Error("top_p must be in (0, 1], got " + format_number(top_p), "1 turns nucleus sampling off");
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    throw Error("min_p must be in [0, 1], got " + format_number(min_p), "0 turns min-p sampling off");
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f))
    throw Error("repetition_penalty must be a finite number > 0, got " + format_number(repetition_penalty),
                "1 turns it off; 1.1 is a typical value");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    throw Error("presence_penalty must be in [-2, 2], got " + format_number(presence_penalty), "0 turns it off");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    throw Error("frequency_penalty must be in [-2, 2], got " + format_number(frequency_penalty), "0 turns it off");
  if (penalty_last_n < -1 || penalty_last_n > kMaxPenaltyLastN)
    throw Error("penalty_last_n must be -1, 0 or a count up to " + std::to_string(kMaxPenaltyLastN) + ", got " +
                    std::to_string(penalty_last_n),
                "-1 penalises the whole history, 0 turns penalties off");
  if (max_tokens == 0 || max_tokens < -1)
    throw Error("max_tokens must be at least 1, got " + std::to_string(max_tokens), "-1 means no limit");
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs)
    throw Error("top_logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "], got " +
                    std::to_string(top_logprobs),
                "0 returns no alternatives");
  if (speculative_ngram < -1)
    throw Error("speculative_ngram must be -1, 0 or a draft length, got " + std::to_string(speculative_ngram),
                "-1 uses the server's setting, 0 turns speculation off");
  if (speculative_draft < -1)
    throw Error("speculative_draft must be -1, 0 or a draft length, got " + std::to_string(speculative_draft),
                "-1 uses the server's setting, 0 turns the draft model off for this request");
  if (logit_bias.size() > kMaxLogitBias)
    throw Error("logit_bias holds at most " + std::to_string(kMaxLogitBias) + " entries, got " +
                std::to_string(logit_bias.size()));
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) throw Error("logit_bias: token id " + std::to_string(token) + " is negative");
    if (!(bias >= -100.0f && bias <= 100.0f))
      throw Error("logit_bias: the bias of token " + std::to_string(token) + " must be in [-100, 100], got " +
                  format_number(bias), "-100 bans the token");
  }
  for (size_t i = 0; i < stop.size(); ++i)
    if (stop[i].empty())
      throw Error("stop strings must not be empty (stop[" + std::to_string(i) + "] is)", "remove the empty entry");
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab) : params_(params), n_vocab_(n_vocab) {
  params_.validate();
  if (n_vocab <= 0)
    throw Error("a sampler needs a vocabulary of at least one token, got n_vocab=" + std::to_string(n_vocab));
  seed_ = params_.seed ? *params_.seed : random_seed();
  rng_.reseed(seed_);

  const size_t n = size_t(n_vocab);
  for (const auto& [token, bias] : params_.logit_bias)
    if (token >= n_vocab)
      throw Error("logit_bias: token id " + std::to_string(token) + " is outside the vocabulary (size " +
                  std::to_string(n_vocab) + ")");
  logits_.resize(n);
  keys_.resize(n);
  weight_.resize(n);

  penalties_on_ = params_.penalty_last_n != 0 &&
                  (params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                   params_.frequency_penalty != 0.0f);
  if (penalties_on_) {
    counts_.assign(n, 0);
    present_.resize(n);
    present_at_.resize(n);
    if (params_.penalty_last_n > 0) ring_.resize(size_t(params_.penalty_last_n));
  }
}

void Sampler::reset() {
  for (size_t i = 0; i < n_present_; ++i) counts_[size_t(present_[i])] = 0;
  n_present_ = 0;
  ring_head_ = 0;
  ring_size_ = 0;
  rng_.reseed(seed_);
  mode_ = Mode::None;
  last_token_ = -1;
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_)
    throw Error("token id " + std::to_string(token) + " is outside the vocabulary (size " +
                std::to_string(n_vocab_) + ")");
  if (!penalties_on_) return;
  if (!ring_.empty()) {
    if (ring_size_ == ring_.size()) {
      // Evict the oldest token of the window.
      const int32_t old = ring_[ring_head_];
      if (--counts_[size_t(old)] == 0) {
        const int32_t moved = present_[--n_present_];
        present_[size_t(present_at_[size_t(old)])] = moved;
        present_at_[size_t(moved)] = present_at_[size_t(old)];
      }
    } else {
      ++ring_size_;
    }
    ring_[ring_head_] = token;
    ring_head_ = ring_head_ + 1 == ring_.size() ? 0 : ring_head_ + 1;
  }
  if (counts_[size_t(token)]++ == 0) {
    present_at_[size_t(token)] = int32_t(n_present_);
    present_[n_present_++] = token;
  }
}

void Sampler::accept(std::span<const int32_t> tokens) {
  for (int32_t token : tokens) accept(token);
}

void Sampler::apply_penalties() {
  const float repeat = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  for (size_t i = 0; i < n_present_; ++i) {
    const size_t token = size_t(present_[i]);
    float& logit = logits_[token];
    if (repeat != 1.0f) logit = logit <= 0.0f ? logit * repeat : logit / repeat;
    logit -= float(counts_[token]) * frequency + presence;
  }
}

int32_t Sampler::sample(std::span<const float> logits) {
  JISU_ASSERT(logits.size() == size_t(n_vocab_));
  return sample(logits.data());
}

int32_t Sampler::sample(const float* logits) { return sample_verifying(logits, -1); }

int32_t Sampler::sample_verifying(const float* logits, int32_t proposed, const uint64_t* allowed,
                                  std::span<const int32_t> banned) {
  prepare_logits(logits, allowed, banned);
  last_token_ = params_.temperature == 0.0f ? sample_greedy() : sample_stochastic(proposed);
  return last_token_;
}

bool Sampler::sample_filtered(const float* logits, TokenFilter& filter, size_t max_tested, int32_t& token) {
  JISU_ASSERT(params_.temperature > 0.0f && (params_.top_k > 0 || params_.min_p > 0.0f));
  const size_t n_vocab = size_t(n_vocab_);
  const size_t k = params_.top_k > 0 ? std::min(size_t(params_.top_k), n_vocab) : n_vocab;
  max_tested = std::min(n_vocab, std::max(max_tested, params_.top_k > 0 ? k : size_t{1}));
  prepare_logits(logits, nullptr, {});
  uint64_t* keys = keys_.data();
  for (size_t i = 0; i < n_vocab; ++i) keys[i] = candidate_key(logits_[i], int32_t(i));
  // Walk the tokens best first, in chunks selected from the rest ([selected, n_vocab) holds only
  // tokens after the chunks), keeping the allowed ones in order, until k are kept or, with
  // min-p, a token falls below min_p times the best allowed one (min-p, after top-k, would drop
  // it and everything after it). The threshold is computed as apply_min_p computes it.
  size_t kept = 0, selected = 0;
  uint64_t min_p_threshold = 0;  // on the keys' high halves; 0: none yet
  bool below_min_p = false;
  while (kept < k && !below_min_p && selected < max_tested) {
    // The first chunk is what top-k alone selects (one pass, as unconstrained sampling makes).
    const size_t chunk = std::min(max_tested - selected, selected > 0 ? size_t{64} : params_.top_k > 0 ? k : size_t{16});
    if (selected + chunk < n_vocab) {
      select_top(selected, selected + chunk, n_vocab);
    } else {
      sort_candidates(selected, n_vocab);
    }
    for (size_t i = selected; i < selected + chunk && kept < k; ++i) {
      if ((keys[i] >> 32) < min_p_threshold) {
        below_min_p = true;
        break;
      }
      if (!filter.allows(key_token(keys[i]))) continue;
      if (kept == 0 && params_.min_p > 0.0f)
        min_p_threshold = candidate_key(key_logit(keys[i]) + std::log(params_.min_p), 0) >> 32;
      keys[kept++] = keys[i];
    }
    selected += chunk;
    // Not one allowed token among the best: a place where the grammar allows few tokens (JSON
    // punctuation) that the model does not expect. Further chunks would rarely settle it.
    if (kept == 0) break;
  }
  // Not every survivor seen, or only impossible tokens allowed (the mask path then picks its
  // degenerate token among all tokens): the caller masks.
  const bool complete = kept == k || below_min_p || selected == n_vocab;
  if (kept == 0 || !complete || key_logit(keys[0]) == kNegInf) return false;
  // The draw walks the candidates in the order the mask path leaves them: best first after a
  // top-k or top-p, else by token id.
  const bool mask_path_sorts = (params_.top_k > 0 && size_t(params_.top_k) < n_vocab) || params_.top_p < 1.0f;
  if (!mask_path_sorts)
    std::sort(keys, keys + kept, [](uint64_t a, uint64_t b) { return key_token(a) < key_token(b); });
  last_token_ = token = sample_candidates(kept, mask_path_sorts, -1);
  return true;
}

void Sampler::prepare_logits(const float* logits, const uint64_t* allowed, std::span<const int32_t> banned) {
  const size_t n = size_t(n_vocab_);
  float* out = logits_.data();
  for (size_t i = 0; i < n; ++i) {
    const float x = logits[i];
    const float clamped = x < FLT_MAX ? x : FLT_MAX;
    out[i] = x == x ? clamped : kNegInf;  // NaN -> -inf, +inf -> FLT_MAX
  }
  if (penalties_on_) apply_penalties();
  for (const auto& [token, bias] : params_.logit_bias) {
    float& logit = out[size_t(token)];
    logit = bias <= -100.0f ? kNegInf : logit + bias;
  }
  if (allowed) {
    // Whole words of allowed tokens are skipped; the rest are masked bit by bit.
    for (size_t word = 0; word * 64 < n; ++word) {
      const uint64_t bits = allowed[word];
      if (bits == ~uint64_t{0}) continue;
      const size_t end = std::min(n, word * 64 + 64);
      for (size_t i = word * 64; i < end; ++i)
        if (!((bits >> (i & 63)) & 1)) out[i] = kNegInf;
    }
  }
  for (int32_t token : banned) out[size_t(token)] = kNegInf;
  greedy_lse_valid_ = false;
}

int32_t Sampler::sample_greedy() {
  const float* logits = logits_.data();
  const size_t n = size_t(n_vocab_);
  // The maximum first, in independent lanes the compiler can vectorise (about 3x faster than a
  // running argmax), then the first token holding it: ties go to the lowest id.
  constexpr size_t kLanes = 16;
  float lane_max[kLanes];
  for (float& value : lane_max) value = kNegInf;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lane_max[j] = logits[i + j] > lane_max[j] ? logits[i + j] : lane_max[j];
  float best_logit = kNegInf;
  for (float value : lane_max) best_logit = std::max(best_logit, value);
  for (; i < n; ++i) best_logit = std::max(best_logit, logits[i]);
  size_t best = 0;
  while (logits[best] != best_logit) ++best;  // NaN never gets here, so the maximum is found
  mode_ = best_logit == kNegInf ? Mode::Degenerate : Mode::Greedy;
  return int32_t(best);
}

void Sampler::sort_candidates(size_t begin, size_t end) {
  std::sort(keys_.begin() + ptrdiff_t(begin), keys_.begin() + ptrdiff_t(end), std::greater<uint64_t>());
}

// Moves the k best candidates of keys_[0, n) to keys_[0, k), sorted best first; the others stay in
// keys_[k, n) in some order. One pass keeps a heap of the best k seen so far (its root is the
// worst of them), so most candidates cost one integer comparison: O(n) in practice, O(n log k) at
// worst, and cheaper than nth_element's partitioning passes.
void Sampler::select_top(size_t k, size_t n) { select_top(0, k, n); }

// The same over keys_[begin, n): moves its best (k - begin) to keys_[begin, k), sorted.
void Sampler::select_top(size_t begin, size_t end, size_t n) {
  uint64_t* keys = keys_.data() + begin;
  const size_t k = end - begin;
  n -= begin;
  const std::greater<uint64_t> better;
  std::make_heap(keys, keys + k, better);
  uint64_t worst = keys[0];
  for (size_t i = k; i < n; ++i) {
    if (keys[i] < worst) continue;           // keys are unique (they contain the token id)
    std::pop_heap(keys, keys + k, better);   // the worst goes to keys[k - 1] ...
    std::swap(keys[k - 1], keys[i]);         // ... and out, in exchange for the newcomer
    std::push_heap(keys, keys + k, better);
    worst = keys[0];
  }
  std::sort_heap(keys, keys + k, better);
}

size_t Sampler::apply_min_p(size_t n, bool sorted) {
  // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p): no softmax needed. Compared on
  // the keys' high halves, which order like the logits.
  const uint64_t threshold = candidate_key(max_logit_ + std::log(params_.min_p), 0) >> 32;
  uint64_t* keys = keys_.data();
  if (sorted) {
    size_t kept = 1;  // the first candidate is the maximum
    while (kept < n && (keys[kept] >> 32) >= threshold) ++kept;
    return kept;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i)
    if ((keys[i] >> 32) >= threshold) keys[kept++] = keys[i];
  return kept;
}

size_t Sampler::apply_top_p(size_t n, bool& sorted) {
  uint64_t* keys = keys_.data();
  const float max_logit = max_logit_;
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += double(std::exp(key_logit(keys[i]) - max_logit));
  const double target = double(params_.top_p) * total;

  // Walk the candidates from the most likely on, sorting only as far as the walk goes: chunks of
  // growing size are selected (everything in [begin, end) precedes everything after) and sorted.
  // The nucleus is then a sorted prefix, so the order is canonical.
  double cumulative = 0.0;
  size_t begin = 0;
  while (begin < n) {
    size_t end = n;
    if (!sorted) {
      end = std::min(n, std::max<size_t>(64, begin * 2));
      if (begin == 0 && end < n) {
        select_top(end, n);  // the first chunk often holds the whole nucleus: one cheap pass
      } else {
        if (end < n) std::nth_element(keys + begin, keys + end, keys + n, std::greater<uint64_t>());
        sort_candidates(begin, end);
      }
    }
    for (size_t i = begin; i < end; ++i) {
      cumulative += double(std::exp(key_logit(keys[i]) - max_logit));
      if (cumulative >= target) {
        sorted = true;
        return i + 1;
      }
    }
    begin = end;
  }
  sorted = true;  // rounding kept everything; it has all been sorted on the way
  return n;
}

int32_t Sampler::sample_stochastic(int32_t proposed) {
  size_t n = size_t(n_vocab_);
  uint64_t* keys = keys_.data();
  const float* logits = logits_.data();
  for (size_t i = 0; i < n; ++i) keys[i] = candidate_key(logits[i], int32_t(i));
  bool sorted = false;

  if (params_.top_k > 0 && size_t(params_.top_k) < n) {
    n = size_t(params_.top_k);
    select_top(n, size_t(n_vocab_));
    sorted = true;
  }
  return sample_candidates(n, sorted, proposed);
}

int32_t Sampler::sample_candidates(size_t n, bool sorted, int32_t proposed) {
  uint64_t* keys = keys_.data();
  if (sorted) {
    max_logit_ = key_logit(keys[0]);
  } else {
    uint64_t best = 0;
    for (size_t i = 0; i < n; ++i) best = std::max(best, keys[i]);
    max_logit_ = key_logit(best);
  }
  if (max_logit_ == kNegInf) {
    // Every token is masked out: nothing to draw from. Pick the lowest id, deterministically.
    n_candidates_ = 0;
    candidates_sorted_ = false;
    mode_ = Mode::Degenerate;
    return sorted ? key_token(keys[0]) : 0;
  }
  if (params_.min_p > 0.0f) n = apply_min_p(n, sorted);
  if (params_.top_p < 1.0f) n = apply_top_p(n, sorted);

  // Temperature last, on the survivors. 1/T is clamped so that a denormal temperature cannot
  // turn (max - max) * inf into NaN.
  float inv_temperature = 1.0f / params_.temperature;
  if (!(inv_temperature <= FLT_MAX)) inv_temperature = FLT_MAX;
  float* weight = weight_.data();
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    weight[i] = std::exp((key_logit(keys[i]) - max_logit_) * inv_temperature);
    sum += double(weight[i]);
  }

  n_candidates_ = n;
  candidates_sorted_ = sorted;
  inv_temperature_ = inv_temperature;
  log_norm_ = std::log(sum);  // of the whole distribution, also when a rejection removes a token
  mode_ = Mode::Stochastic;

  double draw_sum = sum;
  if (proposed >= 0) {
    for (size_t i = 0; i < n; ++i) {
      if (key_token(keys[i]) != proposed) continue;
      if (weight[i] == 0.0f) break;
      if (rng_.uniform() * sum < double(weight[i])) return proposed;
      draw_sum -= double(weight[i]);  // rejected: draw from the rest
      weight[i] = 0.0f;
      break;
    }
    if (!(draw_sum > 0.0)) return proposed;  // it held all the mass (rounding): nothing else to draw
  }

  // Inverse-CDF draw over the candidates in their canonical order (best first, or by token id).
  const double u = rng_.uniform() * draw_sum;
  double cumulative = 0.0;
  size_t chosen = 0;
  for (size_t i = 0; i < n; ++i) {
    if (weight[i] == 0.0f) continue;
    chosen = i;  // falls back to the last non-zero candidate if rounding leaves u >= sum
    cumulative += double(weight[i]);
    if (u < cumulative) break;
  }
  return key_token(keys[chosen]);
}

float Sampler::last_logprob() const {
  switch (mode_) {
    case Mode::None:
      return std::numeric_limits<float>::quiet_NaN();
    case Mode::Degenerate:
      return kNegInf;
    case Mode::Stochastic:
      return float(double((logits_[size_t(last_token_)] - max_logit_) * inv_temperature_) - log_norm_);
    case Mode::Greedy:
      break;
  }
  if (!greedy_lse_valid_) {
    // The chosen token is the argmax, so it is the maximum for a stable log-sum-exp.
    const float max_logit = logits_[size_t(last_token_)];
    double sum = 0.0;
    for (float logit : logits_) sum += double(std::exp(logit - max_logit));
    greedy_lse_ = double(max_logit) + std::log(sum);
    greedy_lse_valid_ = true;
  }
  return float(double(logits_[size_t(last_token_)]) - greedy_lse_);
}

size_t Sampler::top_logprobs(std::span<TokenLogprob> out) {
  if (out.empty() || mode_ == Mode::None || mode_ == Mode::Degenerate) return 0;
  uint64_t* keys = keys_.data();
  size_t n = n_candidates_;
  if (mode_ == Mode::Greedy) {
    last_logprob();  // makes greedy_lse_ valid
    n = size_t(n_vocab_);
    for (size_t i = 0; i < n; ++i) keys[i] = candidate_key(logits_[i], int32_t(i));
    candidates_sorted_ = false;
  }
  const size_t m = std::min(out.size(), n);
  if (!candidates_sorted_) {
    if (m < n)
      select_top(m, n);
    else
      sort_candidates(0, m);
  }
  size_t written = 0;
  for (size_t i = 0; i < m; ++i) {
    const float logit = key_logit(keys[i]);
    const float logprob = mode_ == Mode::Greedy
                              ? float(double(logit) - greedy_lse_)
                              : float(double((logit - max_logit_) * inv_temperature_) - log_norm_);
    if (logprob == kNegInf) break;  // zero probability: not a real alternative (sorted, so neither is the rest)
    out[written++] = TokenLogprob{key_token(keys[i]), logprob};
  }
  return written;
}

}  // namespace jisu
