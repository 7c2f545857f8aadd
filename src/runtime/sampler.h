#pragma once
// Token sampling: turns one row of logits into a token id, the way llama.cpp's default chain does:
//
//   penalties -> logit_bias -> grammar mask -> (temperature == 0: argmax) -> top-k -> min-p -> top-p -> temperature -> draw
//
// Penalties act on the tokens given to accept() (generated tokens, and prompt tokens when the
// caller wants those penalised too, as llama.cpp does). min-p and top-p look at the distribution
// at temperature 1; the temperature only reshapes what survives the truncation.
//
// Invariants:
//  - sample() and accept() never allocate: every buffer (candidates, probabilities, the penalty
//    ring buffer and per-token counts) is sized in the constructor.
//  - With a seed, the sequence of draws depends only on the seed, the logits and the accepted
//    tokens: the RNG is our own (runtime/random.h) and candidates are always visited in a
//    canonical order (by logit descending, ties by token id, or by token id), never in an order
//    that depends on the standard library's nth_element.
//  - NaN logits are treated as -inf, +inf as the largest finite float.
#include <jisu/sampling_params.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/random.h"

namespace jisu {

// A yes/no verdict per token asked lazily while sampling (a grammar: may this token come next?).
class TokenFilter {
 public:
  virtual bool allows(int32_t token) = 0;

 protected:
  ~TokenFilter() = default;
};

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

class Sampler {
 public:
  // Validates params (throws jisu::Error) and allocates every buffer the sampler will use.
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // Picks a token from n_vocab logits (not modified).
  int32_t sample(const float* logits);
  int32_t sample(std::span<const float> logits);
  // Speculative verification of a proposed token (a deterministic draft, as n-gram lookup
  // makes): returns `proposed` when it is accepted, another token otherwise, such that the
  // returned token follows exactly the distribution sample() draws from. Greedy: the argmax
  // (accepted iff proposed is it). Stochastic: proposed is accepted with its probability p; on
  // rejection the token is drawn from the distribution with `proposed` removed and renormalised
  // (P(x) = (1 - p) * p_x / (1 - p) = p_x for x != proposed). proposed < 0: same as sample().
  // `allowed` (a grammar's token mask, bit t = token t; null: all) sets the logits of the other
  // tokens to -inf after penalties and logit_bias, before any truncation; so do the `banned`
  // tokens (ones a grammar refused).
  int32_t sample_verifying(const float* logits, int32_t proposed, const uint64_t* allowed = nullptr,
                           std::span<const int32_t> banned = {});

  // Sampling under `filter` without knowing the whole allowed set, for top-k and/or min-p
  // sampling: the same token (and RNG use) as sample_verifying() with a mask allowing exactly
  // the tokens `filter` allows. Top-k keeps the k best allowed tokens, min-p (after it) those
  // within min_p of the best allowed one, and everything after looks only at those: so the best
  // tokens are asked in order until k are allowed or one falls below the min-p threshold. False
  // (nothing drawn, the RNG untouched) when the best max_tested tokens do not settle it (or allow
  // only impossible tokens): the caller then computes the mask. Needs temperature > 0 and
  // top_k > 0 or min_p > 0.
  bool sample_filtered(const float* logits, TokenFilter& filter, size_t max_tested, int32_t& token);

  // Records a token in the penalty history (throws jisu::Error for an id outside the vocabulary).
  void accept(int32_t token);
  void accept(std::span<const int32_t> tokens);

  // Forgets the penalty history and restarts the RNG from its seed: the sampler then behaves as
  // if newly constructed.
  void reset();

  // Natural log of the probability of the last sampled token under the distribution it was drawn
  // from (after penalties, truncation and temperature). In greedy mode (temperature 0), the
  // distribution is the softmax of the penalised logits at temperature 1 over the whole
  // vocabulary, i.e. the model's own confidence. Computed on demand; NaN before the first sample().
  float last_logprob() const;

  // The most likely tokens of that same distribution, most likely first (ties: lower id), written
  // to out; returns how many were written: min(out.size(), tokens with non-zero probability in the
  // final candidate set). Call after sample(); does not allocate.
  size_t top_logprobs(std::span<TokenLogprob> out);

  int32_t n_vocab() const { return n_vocab_; }
  // The seed in use: params.seed, or the one drawn from std::random_device.
  uint64_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }

 private:
  enum class Mode { None, Greedy, Stochastic, Degenerate };

  void prepare_logits(const float* logits, const uint64_t* allowed, std::span<const int32_t> banned);
  void apply_penalties();
  int32_t sample_greedy();
  int32_t sample_stochastic(int32_t proposed);
  // The chain after top-k: keys_[0, n) are the candidates (sorted best first when `sorted`).
  int32_t sample_candidates(size_t n, bool sorted, int32_t proposed);
  void select_top(size_t k, size_t n);
  void select_top(size_t begin, size_t end, size_t n);
  size_t apply_min_p(size_t n, bool sorted);
  size_t apply_top_p(size_t n, bool& sorted);
  void sort_candidates(size_t begin, size_t end);

  SamplingParams params_;
  int32_t n_vocab_ = 0;
  uint64_t seed_ = 0;
  Rng rng_;
  bool penalties_on_ = false;

  // Per-sample state.
  std::vector<float> logits_;      // penalised copy of the logits, by token id
  std::vector<uint64_t> keys_;     // candidates [0, n_candidates_): (ordered logit bits, ~token id)
  std::vector<float> weight_;      // unnormalised probability of keys_[i], for the draw
  size_t n_candidates_ = 0;
  bool candidates_sorted_ = false;  // keys_[0, n_candidates_) sorted best first
  Mode mode_ = Mode::None;
  int32_t last_token_ = -1;
  float max_logit_ = 0.0f;        // Stochastic: largest candidate logit
  float inv_temperature_ = 1.0f;  // Stochastic: 1 / temperature
  double log_norm_ = 0.0;         // Stochastic: log(sum of weights)
  mutable bool greedy_lse_valid_ = false;  // Greedy: log-sum-exp of logits_, computed on demand
  mutable double greedy_lse_ = 0.0;

  // Penalty history: the last `window` accepted tokens in a ring buffer (none when the window is
  // the whole history), how often each token occurs in it, and the distinct tokens present.
  std::vector<int32_t> ring_;
  size_t ring_head_ = 0;
  size_t ring_size_ = 0;
  std::vector<int32_t> counts_;      // by token id
  std::vector<int32_t> present_;     // distinct tokens with counts_ > 0
  std::vector<int32_t> present_at_;  // token id -> position in present_
  size_t n_present_ = 0;
};

}  // namespace jisu
