#pragma once
// What a generation request asks of the sampler: one object per request, as llama.cpp and vLLM
// users know it. Every knob has an "off" value, and the defaults are llama.cpp's.
//
//   temperature         0 = greedy (argmax, ties -> lowest token id); otherwise divides the logits
//                       after truncation (llama.cpp's order: temperature is applied last).
//   top_k               <= 0 = off; otherwise keep the k most likely tokens.
//   top_p               1 = off; otherwise keep the smallest set of most likely tokens whose
//                       probability reaches top_p (at least one token is always kept).
//   min_p               0 = off; otherwise drop tokens whose probability is below
//                       min_p * (probability of the most likely token).
//   repetition_penalty  1 = off; for tokens seen in the last penalty_last_n accepted tokens, a
//                       positive logit is divided by it and a negative one multiplied by it.
//   presence_penalty    0 = off; subtracted once from the logit of every token seen.
//   frequency_penalty   0 = off; subtracted count times from the logit of a token seen count times.
//   penalty_last_n      how many recent accepted tokens the penalties look at: 0 = none (off),
//                       -1 = the whole history.
//   seed                set = reproducible draws (the same on every platform); unset = random.
//   stop                strings that end generation; neither they nor anything after is returned.
//   max_tokens          tokens to generate at most; -1 = until end-of-sequence or a full context.
//   logprobs            return the log-probability of each chosen token.
//   top_logprobs        also return that many most likely alternatives per position (0..20).
//   speculative_ngram   draft tokens per step by n-gram lookup: -1 = the engine's setting, 0 = off,
//                       n = at most n (never more than the engine's setting). Changes speed only:
//                       greedy output is identical, sampled output keeps its distribution.
//   speculative_draft   draft tokens per step by the engine's draft model: -1 = the engine's
//                       setting, 0 = off (n-gram lookup then applies when on), n = at most n.
//   logit_bias          (token id, bias) pairs added to the logits before truncation; a bias of
//                       -100 or less bans the token (OpenAI's meaning). Bias in [-100, 100].
//   grammar             GBNF text (llama.cpp's syntax, src/runtime/grammar/gbnf_grammar.h): every
//                       sampled token keeps the output a prefix of a sentence of the grammar, and
//                       generation ends when the sentence is complete. Empty: unconstrained.
//                       Constrained requests do not speculate (drafts would need grammar checks).
//
// validate() throws jisu::Error naming the first bad field; the sampler calls it too.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jisu {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;

  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t penalty_last_n = 64;

  std::optional<uint64_t> seed;

  std::vector<std::string> stop;
  int32_t max_tokens = -1;

  bool logprobs = false;
  int32_t top_logprobs = 0;

  int32_t speculative_ngram = -1;
  int32_t speculative_draft = -1;

  std::vector<std::pair<int32_t, float>> logit_bias;
  std::string grammar;

  // Limits enforced by validate().
  static constexpr int32_t kMaxTopLogprobs = 20;
  static constexpr int32_t kMaxPenaltyLastN = 1 << 20;
  static constexpr size_t kMaxLogitBias = 1 << 16;  // entries

  // Plain greedy decoding: temperature 0, nothing else changes the choice.
  static SamplingParams greedy() {
    SamplingParams params;
    params.temperature = 0.0f;
    return params;
  }

  // Throws jisu::Error ("top_p must be in (0, 1], got 1.5" plus a hint) for the first bad field.
  void validate() const;
};

}  // namespace jisu
