#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/random.h"

// ---------------------------------------------------------------------------------------------
// Allocation counting: the global operator new/delete family is replaced for the whole test
// binary. Counting is per thread and only while switched on, so other tests are unaffected.
// (Only one test file of the binary may replace these operators.)
namespace {
thread_local bool t_count_allocations = false;
thread_local long t_allocations = 0;

void* counted_malloc(std::size_t size) {
  if (t_count_allocations) ++t_allocations;
  return std::malloc(size ? size : 1);
}
void* counted_aligned_malloc(std::size_t size, std::align_val_t alignment) {
  if (t_count_allocations) ++t_allocations;
  void* p = nullptr;
  const std::size_t align = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
  return posix_memalign(&p, align, size ? size : 1) == 0 ? p : nullptr;
}
// Out of line so that the compiler does not inline free() into callers of `new` and warn about a
// new/free mismatch (-Wmismatched-new-delete): every operator new above allocates with malloc.
[[gnu::noinline]] void counted_free(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_malloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_malloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  if (void* p = counted_aligned_malloc(size, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  if (void* p = counted_aligned_malloc(size, alignment)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return counted_aligned_malloc(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return counted_aligned_malloc(size, alignment);
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }

namespace jisu::test {
// Also used by test_stop_strings.cpp.
void begin_counting_allocations() {
  t_allocations = 0;
  t_count_allocations = true;
}
long end_counting_allocations() {
  t_count_allocations = false;
  return t_allocations;
}
}  // namespace jisu::test

namespace jisu {
namespace {

using test::begin_counting_allocations;
using test::end_counting_allocations;

// Every filter off: temperature only.
SamplingParams plain(float temperature, uint64_t seed = 1234) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = seed;
  return params;
}

std::vector<float> random_logits(size_t n, uint64_t seed, float scale = 3.0f) {
  Rng rng(seed);
  std::vector<float> logits(n);
  for (float& x : logits) x = float((rng.uniform() * 2.0 - 1.0) * scale);
  return logits;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(float(std::log(p)));
  return logits;
}

// All candidates of the last sample() with their log-probabilities, most likely first.
std::vector<TokenLogprob> candidates(Sampler& sampler) {
  std::vector<TokenLogprob> out(size_t(sampler.n_vocab()));
  out.resize(sampler.top_logprobs(out));
  return out;
}

// Greedy sampling reports log-softmax of the penalised logits over the whole vocabulary: compare it
// with the log-softmax of hand-penalised logits.
void expect_penalised_logits(Sampler& sampler, const std::vector<float>& logits, const std::vector<float>& expected) {
  ASSERT_EQ(sampler.params().temperature, 0.0f);
  sampler.sample(logits.data());
  std::vector<TokenLogprob> got = candidates(sampler);
  ASSERT_EQ(got.size(), expected.size());
  const std::vector<double> p = softmax(expected);
  for (const TokenLogprob& entry : got)
    EXPECT_NEAR(entry.logprob, std::log(p[size_t(entry.token)]), 1e-5) << "token " << entry.token;
}

// ---------------------------------------------------------------------------------------------

TEST(SamplerRandom, KnownSequenceOnEveryPlatform) {
  // xoshiro256** seeded with splitmix64, values from an independent implementation.
  Rng zero(0);
  EXPECT_EQ(zero.next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(zero.next(), 0xbf6e1f784956452aull);
  EXPECT_EQ(zero.next(), 0x1a5f849d4933e6e0ull);
  EXPECT_EQ(zero.next(), 0x6aa594f1262d2d2cull);
  Rng answer(42);
  EXPECT_EQ(answer.next(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(answer.next(), 0x6104d9866d113a7eull);
  Rng uniform(7);
  for (int i = 0; i < 10000; ++i) {
    const double u = uniform.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Sampler, GreedyIsArgmaxWithTiesToLowestId) {
  Sampler sampler(SamplingParams::greedy(), 4);
  const std::vector<float> logits = {1.0f, 5.0f, 3.0f, 5.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler.sample(logits.data()), 1);
  const std::vector<float> flat(4, 0.25f);
  EXPECT_EQ(sampler.sample(flat.data()), 0);

  Sampler big(SamplingParams::greedy(), 32000);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> row = random_logits(32000, seed);
    row[size_t(seed * 977)] = 10.0f;
    row[size_t(seed * 977 + 5)] = 10.0f;  // a tie further on loses
    EXPECT_EQ(big.sample(row.data()), int32_t(seed * 977));
  }
}

TEST(Sampler, GreedyLogprobsAreTheModelsLogSoftmax) {
  Sampler sampler(SamplingParams::greedy(), 4);
  const std::vector<float> logits = log_of({0.125, 0.25, 0.5, 0.125});
  EXPECT_TRUE(std::isnan(sampler.last_logprob()));  // nothing sampled yet
  EXPECT_EQ(sampler.sample(logits.data()), 2);
  EXPECT_NEAR(sampler.last_logprob(), std::log(0.5), 1e-6);
  std::array<TokenLogprob, 3> top;
  ASSERT_EQ(sampler.top_logprobs(top), 3u);
  EXPECT_EQ(top[0].token, 2);
  EXPECT_EQ(top[1].token, 1);
  EXPECT_EQ(top[2].token, 0);  // tie with token 3: the lower id first
  EXPECT_NEAR(top[1].logprob, std::log(0.25), 1e-6);
  EXPECT_NEAR(top[2].logprob, std::log(0.125), 1e-6);
}

TEST(Sampler, TemperatureTowardsZeroBecomesGreedy) {
  const std::vector<float> logits = {1.0f, 1.5f, 0.2f, 1.4f, -3.0f};
  for (float temperature : {1e-3f, 1e-6f, 1e-30f, 1e-44f}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Sampler sampler(plain(temperature, seed), 5);
      for (int i = 0; i < 20; ++i) ASSERT_EQ(sampler.sample(logits.data()), 1) << "temperature " << temperature;
      EXPECT_NEAR(sampler.last_logprob(), 0.0f, 1e-6);
    }
  }
  // At a moderate temperature other tokens do get drawn, and more of them as it rises.
  auto share_of_argmax = [&](float temperature) {
    Sampler sampler(plain(temperature, 99), 5);
    int hits = 0;
    for (int i = 0; i < 4000; ++i) hits += sampler.sample(logits.data()) == 1;
    return hits / 4000.0;
  };
  const double cold = share_of_argmax(0.05f), warm = share_of_argmax(1.0f), hot = share_of_argmax(5.0f);
  EXPECT_GT(cold, 0.8);
  EXPECT_GT(cold, warm);
  EXPECT_GT(warm, hot);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  SamplingParams params = plain(1.5f, 5);
  params.top_k = 1;
  Sampler top1(params, 1000);
  Sampler greedy(SamplingParams::greedy(), 1000);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::vector<float> row = random_logits(1000, seed);
    if (seed % 2) row[700] = row[300] = 20.0f;  // ties at the top
    const int32_t expected = greedy.sample(row.data());
    EXPECT_EQ(top1.sample(row.data()), expected);
    EXPECT_EQ(top1.last_logprob(), 0.0f);  // the only candidate
  }
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  SamplingParams params = plain(1.0f);
  params.top_k = 3;
  Sampler sampler(params, 6);
  const std::vector<double> p = {0.05, 0.3, 0.1, 0.2, 0.25, 0.1};
  sampler.sample(log_of(p).data());
  std::vector<TokenLogprob> kept = candidates(sampler);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].token, 1);
  EXPECT_EQ(kept[1].token, 4);
  EXPECT_EQ(kept[2].token, 3);
  EXPECT_NEAR(kept[0].logprob, std::log(0.3 / 0.75), 1e-5);
  EXPECT_NEAR(kept[2].logprob, std::log(0.2 / 0.75), 1e-5);
  for (int i = 0; i < 2000; ++i) {
    const int32_t token = sampler.sample(log_of(p).data());
    ASSERT_TRUE(token == 1 || token == 4 || token == 3) << token;
  }
}

TEST(Sampler, TopPKeepsTheMinimalNucleus) {
  // Shuffled on purpose: 0.5 (id 3), 0.2 (id 0), 0.15 (id 4), 0.1 (id 1), 0.05 (id 2).
  const std::vector<float> logits = log_of({0.2, 0.1, 0.05, 0.5, 0.15});
  auto nucleus = [&](float top_p) {
    SamplingParams params = plain(1.0f);
    params.top_p = top_p;
    Sampler sampler(params, 5);
    sampler.sample(logits.data());
    return candidates(sampler);
  };
  EXPECT_EQ(nucleus(0.3f).size(), 1u);   // 0.5 already reaches it
  EXPECT_EQ(nucleus(0.69f).size(), 2u);  // 0.5 + 0.2
  std::vector<TokenLogprob> three = nucleus(0.8f);  // 0.5 + 0.2 + 0.15 = 0.85
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].token, 3);
  EXPECT_EQ(three[1].token, 0);
  EXPECT_EQ(three[2].token, 4);
  EXPECT_NEAR(three[0].logprob, std::log(0.5 / 0.85), 1e-5);
  EXPECT_NEAR(three[2].logprob, std::log(0.15 / 0.85), 1e-5);
  EXPECT_EQ(nucleus(0.9f).size(), 4u);
  EXPECT_EQ(nucleus(0.97f).size(), 5u);
  EXPECT_EQ(nucleus(1.0f).size(), 5u);
}

TEST(Sampler, TopPOverALargeVocabularyMatchesAFullSort) {
  // top-k off: the nucleus is found by sorting chunk by chunk; compare with a full sort.
  const size_t n = 5000;
  for (float top_p : {0.1f, 0.5f, 0.9f, 0.99f}) {
    const std::vector<float> logits = random_logits(n, 77, 1.0f);
    SamplingParams params = plain(1.0f);
    params.top_p = top_p;
    Sampler sampler(params, int32_t(n));
    sampler.sample(logits.data());
    const std::vector<TokenLogprob> got = candidates(sampler);

    const std::vector<double> p = softmax(logits);
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      const float la = logits[size_t(a)], lb = logits[size_t(b)];
      return la > lb || (la == lb && a < b);  // equal logits: the lower id first
    });
    size_t expected = 0;
    double cumulative = 0;
    while (cumulative < top_p) cumulative += p[size_t(order[expected++])];
    ASSERT_EQ(got.size(), expected) << "top_p " << top_p;
    for (size_t i = 0; i < expected; ++i) {
      ASSERT_EQ(got[i].token, order[i]);
      EXPECT_NEAR(got[i].logprob, std::log(p[size_t(order[i])] / cumulative), 1e-4);
    }
  }
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  const std::vector<float> logits = log_of({0.1, 0.4, 0.05, 0.3, 0.15});
  auto kept = [&](float min_p, int32_t top_k) {
    SamplingParams params = plain(1.0f);
    params.min_p = min_p;
    params.top_k = top_k;
    Sampler sampler(params, 5);
    sampler.sample(logits.data());
    return candidates(sampler);
  };
  for (int32_t top_k : {0, 4}) {            // unsorted and sorted candidate lists
    EXPECT_EQ(kept(0.3f, top_k).size(), 3u);  // >= 0.12: 0.4, 0.3, 0.15
    EXPECT_EQ(kept(0.2f, top_k).size(), 4u);  // >= 0.08: also 0.1
    EXPECT_EQ(kept(0.9f, top_k).size(), 1u);
  }
  std::vector<TokenLogprob> three = kept(0.3f, 0);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].token, 1);
  EXPECT_EQ(three[1].token, 3);
  EXPECT_EQ(three[2].token, 4);
  EXPECT_NEAR(three[2].logprob, std::log(0.15 / 0.85), 1e-5);
  EXPECT_EQ(kept(0.0f, 0).size(), 5u);
}

TEST(Sampler, TruncationOrderIsTopKThenMinPThenTopP) {
  // top-k 4 keeps 0.3 0.25 0.2 0.15; min-p 0.6 keeps >= 0.18: 0.3 0.25 0.2; top-p 0.6 over
  // those, renormalised at temperature 1 (sum 0.75): 0.4 + 0.333 >= 0.6 keeps two.
  const std::vector<float> logits = log_of({0.3, 0.05, 0.25, 0.05, 0.2, 0.15});
  SamplingParams params = plain(0.5f);
  params.top_k = 4;
  params.min_p = 0.6f;
  params.top_p = 0.6f;
  Sampler sampler(params, 6);
  sampler.sample(logits.data());
  std::vector<TokenLogprob> kept = candidates(sampler);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].token, 0);
  EXPECT_EQ(kept[1].token, 2);
  // Temperature 0.5 squares the probabilities of the survivors.
  const double a = 0.3 * 0.3, b = 0.25 * 0.25;
  EXPECT_NEAR(kept[0].logprob, std::log(a / (a + b)), 1e-5);
  EXPECT_NEAR(kept[1].logprob, std::log(b / (a + b)), 1e-5);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams params = SamplingParams::greedy();
  params.repetition_penalty = 2.0f;
  Sampler sampler(params, 5);
  const std::vector<float> logits = {3.0f, -1.0f, 2.0f, 0.0f, 2.5f};
  sampler.accept(0);
  sampler.accept(1);
  sampler.accept(0);  // counted once: the repetition penalty does not depend on the count
  sampler.accept(3);
  expect_penalised_logits(sampler, logits, {1.5f, -2.0f, 2.0f, 0.0f, 2.5f});
  EXPECT_EQ(sampler.sample(logits.data()), 4);  // 3.0 was the best before the penalty
}

TEST(Sampler, PresencePenaltySubtractsOnceAndFrequencyPenaltyPerOccurrence) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  {
    SamplingParams params = SamplingParams::greedy();
    params.presence_penalty = 0.5f;
    Sampler sampler(params, 4);
    sampler.accept(std::vector<int32_t>{2, 2, 2, 0});
    expect_penalised_logits(sampler, logits, {0.5f, 1.0f, 0.5f, 1.0f});
    EXPECT_EQ(sampler.sample(logits.data()), 1);
  }
  {
    SamplingParams params = SamplingParams::greedy();
    params.frequency_penalty = 0.25f;
    Sampler sampler(params, 4);
    sampler.accept(std::vector<int32_t>{2, 2, 2, 0});
    expect_penalised_logits(sampler, logits, {0.75f, 1.0f, 0.25f, 1.0f});
  }
  {
    // All three together, as llama.cpp applies them: repetition first, then the subtractions.
    SamplingParams params = SamplingParams::greedy();
    params.repetition_penalty = 1.25f;
    params.presence_penalty = 0.5f;
    params.frequency_penalty = -0.25f;  // negative values encourage repetition
    Sampler sampler(params, 4);
    sampler.accept(std::vector<int32_t>{2, 2, 3});
    const std::vector<float> mixed = {1.0f, 1.0f, 2.0f, -2.0f};
    expect_penalised_logits(sampler, mixed, {1.0f, 1.0f, 2.0f / 1.25f - 0.5f + 0.5f, -2.5f - 0.5f + 0.25f});
  }
}

TEST(Sampler, PenaltiesOnlySeeTheLastNTokens) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  SamplingParams params = SamplingParams::greedy();
  params.frequency_penalty = 0.5f;
  params.penalty_last_n = 3;
  Sampler sampler(params, 4);
  sampler.accept(std::vector<int32_t>{0, 0, 1, 2, 2});  // the window holds 1, 2, 2
  expect_penalised_logits(sampler, logits, {1.0f, 0.5f, 0.0f, 1.0f});
  sampler.accept(std::vector<int32_t>{3, 3, 3});  // 3, 3, 3
  expect_penalised_logits(sampler, logits, {1.0f, 1.0f, 1.0f, -0.5f});
  sampler.reset();
  expect_penalised_logits(sampler, logits, {1.0f, 1.0f, 1.0f, 1.0f});

  params.penalty_last_n = 0;  // off
  Sampler off(params, 4);
  off.accept(std::vector<int32_t>{0, 1, 2});
  expect_penalised_logits(off, logits, logits);

  params.penalty_last_n = -1;  // the whole history
  Sampler all(params, 4);
  for (int i = 0; i < 100; ++i) all.accept(i == 0 ? 1 : 0);  // more than the default window
  expect_penalised_logits(all, logits, {1.0f - 99 * 0.5f, 0.5f, 1.0f, 1.0f});
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedsDiffer) {
  const std::vector<float> logits = random_logits(500, 3, 2.0f);
  auto run = [&](uint64_t seed) {
    SamplingParams params;  // the defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
    params.seed = seed;
    params.repetition_penalty = 1.1f;
    Sampler sampler(params, 500);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 200; ++i) {
      tokens.push_back(sampler.sample(logits.data()));
      sampler.accept(tokens.back());
    }
    return tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  EXPECT_NE(run(1), run(2));

  // reset() replays the same sequence.
  SamplingParams params = plain(1.0f, 9);
  Sampler sampler(params, 500);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 50; ++i) first.push_back(sampler.sample(logits.data()));
  sampler.reset();
  for (int i = 0; i < 50; ++i) second.push_back(sampler.sample(logits.data()));
  EXPECT_EQ(first, second);
  EXPECT_EQ(sampler.seed(), 9u);

  // Without a seed, every sampler draws its own.
  SamplingParams unseeded = plain(1.0f);
  unseeded.seed.reset();
  EXPECT_NE(Sampler(unseeded, 10).seed(), Sampler(unseeded, 10).seed());
}

TEST(Sampler, SeededDrawsArePinned) {
  // The same seed gives these tokens on every platform: our RNG, canonical candidate order.
  const std::vector<float> logits = log_of({0.1, 0.2, 0.3, 0.4});
  Sampler sampler(plain(1.0f, 2024), 4);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 16; ++i) tokens.push_back(sampler.sample(logits.data()));
  Rng rng(2024);
  std::vector<int32_t> expected;
  for (int i = 0; i < 16; ++i) {
    const double u = rng.uniform();
    expected.push_back(u < 0.1 ? 0 : u < 0.3 ? 1 : u < 0.6 ? 2 : 3);
  }
  EXPECT_EQ(tokens, expected);
}

double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

TEST(Sampler, DrawsFollowTheSoftmaxDistribution) {
  const std::vector<float> logits = {0.1f, 1.2f, -0.5f, 2.0f, 0.0f, 1.0f, -1.0f, 0.7f};
  const int draws = 20000;
  {
    Sampler sampler(plain(1.0f, 12345), 8);
    std::vector<int> counts(8, 0);
    for (int i = 0; i < draws; ++i) ++counts[size_t(sampler.sample(logits.data()))];
    // 7 degrees of freedom: 24.32 is the 0.1% critical value.
    EXPECT_LT(chi_square(counts, softmax(logits), draws), 24.32);
  }
  {
    // Temperature 0.7 over the top 5: renormalised softmax of logits / 0.7; the rest never drawn.
    SamplingParams params = plain(0.7f, 777);
    params.top_k = 5;
    Sampler sampler(params, 8);
    std::vector<int> counts(8, 0);
    for (int i = 0; i < draws; ++i) ++counts[size_t(sampler.sample(logits.data()))];
    const std::vector<int32_t> top5 = {3, 1, 5, 7, 0};
    std::vector<float> kept_logits;
    std::vector<int> kept_counts;
    for (int32_t token : top5) {
      kept_logits.push_back(logits[size_t(token)]);
      kept_counts.push_back(counts[size_t(token)]);
    }
    EXPECT_EQ(counts[2] + counts[4] + counts[6], 0);
    // 4 degrees of freedom: 18.47 is the 0.1% critical value.
    EXPECT_LT(chi_square(kept_counts, softmax(kept_logits, 0.7), draws), 18.47);
  }
}

// Speculative verification of a fixed proposal must leave the distribution unchanged: accept
// with probability p(proposed), else draw from the rest renormalised.
TEST(Sampler, VerifyingAProposalKeepsTheDistribution) {
  const std::vector<float> logits = {0.1f, 1.2f, -0.5f, 2.0f, 0.0f, 1.0f, -1.0f, 0.7f};
  const int draws = 20000;
  for (int32_t proposed : {3, 6, 1}) {
    Sampler sampler(plain(1.0f, 4242 + proposed), 8);
    std::vector<int> counts(8, 0);
    for (int i = 0; i < draws; ++i) ++counts[size_t(sampler.sample_verifying(logits.data(), proposed))];
    EXPECT_LT(chi_square(counts, softmax(logits), draws), 24.32) << "proposed " << proposed;
  }
  // A proposal outside the top-k survivors is never returned.
  SamplingParams params = plain(1.0f, 99);
  params.top_k = 2;  // tokens 3 and 1
  Sampler truncated(params, 8);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(truncated.sample_verifying(logits.data(), 6), 6);
  // Greedy: the argmax whatever is proposed.
  Sampler greedy(SamplingParams::greedy(), 8);
  EXPECT_EQ(greedy.sample_verifying(logits.data(), 1), 3);
  EXPECT_EQ(greedy.sample_verifying(logits.data(), 3), 3);
}

// A filter over a fixed set of allowed tokens that counts how often it is asked.
struct SetFilter final : TokenFilter {
  explicit SetFilter(std::vector<char> allowed) : allowed(std::move(allowed)) {}
  bool allows(int32_t token) override {
    ++asked;
    return allowed[size_t(token)] != 0;
  }
  std::vector<uint64_t> mask() const {
    std::vector<uint64_t> words((allowed.size() + 63) / 64, 0);
    for (size_t t = 0; t < allowed.size(); ++t)
      if (allowed[t]) words[t / 64] |= uint64_t{1} << (t % 64);
    return words;
  }
  std::vector<char> allowed;
  size_t asked = 0;
};

// Top-k under a filter, against a closed form: the k best *allowed* tokens, softmax at T.
TEST(Sampler, FilteredDrawsFollowTheMaskedTopKDistribution) {
  const std::vector<float> logits = {0.1f, 1.2f, -0.5f, 2.0f, 0.0f, 1.0f, -1.0f, 0.7f};
  SamplingParams params = plain(0.8f, 31337);
  params.top_k = 3;
  Sampler sampler(params, 8);
  SetFilter filter({1, 0, 1, 1, 0, 1, 1, 1});  // 1 (second best) and 4 refused
  const int draws = 20000;
  std::vector<int> counts(8, 0);
  for (int i = 0; i < draws; ++i) {
    int32_t token = -1;
    ASSERT_TRUE(sampler.sample_filtered(logits.data(), filter, 8, token));
    ++counts[size_t(token)];
  }
  const std::vector<int32_t> kept = {3, 5, 7};  // the 3 best of the allowed ones
  EXPECT_EQ(draws, counts[3] + counts[5] + counts[7]);
  std::vector<int> kept_counts;
  std::vector<float> kept_logits;
  for (int32_t token : kept) {
    kept_counts.push_back(counts[size_t(token)]);
    kept_logits.push_back(logits[size_t(token)]);
  }
  // 2 degrees of freedom: 13.82 is the 0.1% critical value.
  EXPECT_LT(chi_square(kept_counts, softmax(kept_logits, 0.8), draws), 13.82);
}

// The filtered path draws exactly what the masked path draws (same seed, same token, same RNG
// use), across truncation settings and densities of the allowed set; it gives up (false, RNG
// untouched) only when the tested tokens cannot settle the draw.
TEST(Sampler, FilteredSamplingEqualsMaskedSampling) {
  struct Setting {
    int32_t top_k;
    float top_p, min_p, temperature;
  };
  const Setting settings[] = {{40, 1.0f, 0.0f, 1.0f},  {5, 0.9f, 0.0f, 0.7f},   {0, 1.0f, 0.05f, 1.0f},
                              {40, 0.95f, 0.05f, 0.8f}, {0, 0.9f, 0.2f, 1.5f}, {5000, 1.0f, 0.0f, 1.0f}};
  const double densities[] = {0.97, 0.5, 0.05, 0.002};
  const size_t n_vocab = 3000;
  Rng chooser(5);
  size_t filtered = 0, fallbacks = 0;
  for (const Setting& setting : settings) {
    for (double density : densities) {
      SamplingParams params = plain(setting.temperature, 2024);
      params.top_k = setting.top_k;
      params.top_p = setting.top_p;
      params.min_p = setting.min_p;
      params.repetition_penalty = 1.2f;
      params.logit_bias = {{7, 5.0f}, {8, -100.0f}};
      Sampler lazy(params, int32_t(n_vocab)), masked(params, int32_t(n_vocab));
      for (int step = 0; step < 60; ++step) {
        std::vector<char> allowed(n_vocab);
        for (char& a : allowed) a = chooser.uniform() < density;
        allowed[size_t(step) % n_vocab] = 1;  // never empty
        SetFilter filter(allowed);
        const std::vector<uint64_t> mask = filter.mask();
        const std::vector<float> logits = random_logits(n_vocab, uint64_t(step) * 7 + 1, 4.0f);
        const int32_t expected = masked.sample_verifying(logits.data(), -1, mask.data());
        int32_t token = -1;
        const size_t max_tested = size_t(std::max(setting.top_k, 0)) + 64;
        if (lazy.sample_filtered(logits.data(), filter, max_tested, token)) {
          ++filtered;
          EXPECT_LE(filter.asked, std::max(max_tested, size_t(setting.top_k)));
        } else {
          ++fallbacks;
          token = lazy.sample_verifying(logits.data(), -1, mask.data());
        }
        ASSERT_EQ(token, expected) << "top_k " << setting.top_k << " min_p " << setting.min_p << " density "
                                   << density << " step " << step;
        EXPECT_TRUE(allowed[size_t(token)]);
        EXPECT_FLOAT_EQ(lazy.last_logprob(), masked.last_logprob());
        lazy.accept(token);
        masked.accept(token);
      }
    }
  }
  EXPECT_GT(filtered, 600u);  // most draws need no mask
  EXPECT_GT(fallbacks, 50u);  // sparse sets do
}

TEST(Sampler, LogprobOfTheChosenTokenMatchesTheFinalDistribution) {
  const std::vector<float> logits = {0.1f, 1.2f, -0.5f, 2.0f};
  Sampler sampler(plain(0.5f, 3), 4);
  const std::vector<double> p = softmax(logits, 0.5);
  double total = 0;
  for (int i = 0; i < 20; ++i) {
    const int32_t token = sampler.sample(logits.data());
    EXPECT_NEAR(sampler.last_logprob(), std::log(p[size_t(token)]), 1e-5);
  }
  for (const TokenLogprob& entry : candidates(sampler)) total += std::exp(double(entry.logprob));
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Sampler, MaskedAndNonFiniteLogits) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> masked = {-inf, 0.5f, -inf, nan};
  for (SamplingParams params : {SamplingParams::greedy(), SamplingParams(), plain(1.0f)}) {
    params.seed = 1;
    Sampler sampler(params, 4);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(sampler.sample(masked.data()), 1);
    EXPECT_NEAR(sampler.last_logprob(), 0.0f, 1e-6);
    EXPECT_EQ(candidates(sampler).size(), 1u);  // zero-probability tokens are not alternatives
  }
  const std::vector<float> all_masked(4, -inf);
  Sampler sampler(plain(1.0f), 4);
  EXPECT_EQ(sampler.sample(all_masked.data()), 0);
  EXPECT_EQ(sampler.last_logprob(), -inf);
  const std::vector<float> positive_inf = {0.0f, inf, 1.0f};
  Sampler three(plain(1.0f), 3);
  EXPECT_EQ(three.sample(positive_inf.data()), 1);
}

void expect_invalid(const SamplingParams& params, const std::string& field) {
  try {
    params.validate();
    ADD_FAILURE() << "no error for " << field;
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    EXPECT_FALSE(error.hint().empty());
  }
  EXPECT_THROW(Sampler(params, 10), Error);
}

TEST(Sampler, InvalidParametersThrowNamingTheField) {
  SamplingParams ok;
  EXPECT_NO_THROW(ok.validate());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto with = [](auto change) {
    SamplingParams params;
    change(params);
    return params;
  };
  expect_invalid(with([](SamplingParams& p) { p.temperature = -0.1f; }), "temperature");
  expect_invalid(with([&](SamplingParams& p) { p.temperature = nan; }), "temperature");
  expect_invalid(with([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p");
  expect_invalid(with([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5");
  expect_invalid(with([&](SamplingParams& p) { p.top_p = nan; }), "top_p");
  expect_invalid(with([](SamplingParams& p) { p.min_p = -0.1f; }), "min_p");
  expect_invalid(with([](SamplingParams& p) { p.min_p = 1.1f; }), "min_p");
  expect_invalid(with([](SamplingParams& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty");
  expect_invalid(with([](SamplingParams& p) { p.presence_penalty = 2.5f; }), "presence_penalty");
  expect_invalid(with([](SamplingParams& p) { p.frequency_penalty = -3.0f; }), "frequency_penalty");
  expect_invalid(with([](SamplingParams& p) { p.penalty_last_n = -2; }), "penalty_last_n");
  expect_invalid(with([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens");
  expect_invalid(with([](SamplingParams& p) { p.top_logprobs = 21; }), "top_logprobs");
  expect_invalid(with([](SamplingParams& p) { p.stop = {"ok", ""}; }), "stop");

  // The "off" values are all valid.
  SamplingParams off = with([](SamplingParams& p) {
    p.temperature = 0;
    p.top_k = -1;
    p.top_p = 1;
    p.min_p = 0;
    p.penalty_last_n = -1;
    p.max_tokens = -1;
  });
  EXPECT_NO_THROW(off.validate());

  EXPECT_THROW(Sampler(ok, 0), Error);
  Sampler sampler(ok, 10);
  EXPECT_THROW(sampler.accept(10), Error);
  EXPECT_THROW(sampler.accept(-1), Error);
}

void* volatile g_allocation_sink = nullptr;  // keeps the compiler from eliding test allocations

TEST(Sampler, AllocationCounterWorks) {
  begin_counting_allocations();
  void* raw = ::operator new(64);
  g_allocation_sink = raw;
  ::operator delete(raw);
  {
    std::vector<int> vector(100, 1);
    g_allocation_sink = vector.data();
  }
  {
    std::string text(100, 'x');
    g_allocation_sink = text.data();
  }
  const long counted = end_counting_allocations();
  EXPECT_EQ(counted, 3);
  // Allocations outside the counting window are not counted.
  std::string outside(1000, 'x');
  begin_counting_allocations();
  EXPECT_EQ(end_counting_allocations(), 0);
}

TEST(Sampler, SampleAndAcceptNeverAllocate) {
  const int32_t n_vocab = 32000;
  std::vector<std::vector<float>> rows;
  for (uint64_t seed = 0; seed < 8; ++seed) rows.push_back(random_logits(size_t(n_vocab), seed, 4.0f));

  SamplingParams defaults;
  defaults.seed = 1;
  defaults.repetition_penalty = 1.1f;
  defaults.presence_penalty = 0.2f;
  defaults.frequency_penalty = 0.1f;
  SamplingParams nucleus_only = plain(0.9f, 2);  // top-k off: chunked sorting for top-p
  nucleus_only.top_p = 0.9f;
  nucleus_only.penalty_last_n = -1;
  nucleus_only.frequency_penalty = 0.5f;
  SamplingParams greedy = SamplingParams::greedy();
  greedy.repetition_penalty = 1.3f;
  SamplingParams unfiltered = plain(1.0f, 3);
  unfiltered.min_p = 0.01f;

  std::vector<char> even(size_t(n_vocab), 0);
  for (size_t t = 0; t < even.size(); t += 2) even[t] = 1;
  SetFilter every_other(even);
  for (const SamplingParams& params : {defaults, nucleus_only, greedy, unfiltered}) {
    Sampler sampler(params, n_vocab);
    std::array<TokenLogprob, 5> top{};
    std::array<int32_t, 3> prompt = {1, 2, 3};
    long checksum = 0;
    begin_counting_allocations();
    sampler.accept(prompt);
    for (int i = 0; i < 1000; ++i) {
      const int32_t token = sampler.sample(rows[size_t(i) % rows.size()].data());
      sampler.accept(token);
      checksum += token + long(sampler.top_logprobs(top)) + (sampler.last_logprob() <= 0.0f);
    }
    if (params.temperature > 0.0f && (params.top_k > 0 || params.min_p > 0.0f)) {
      for (int i = 0; i < 100; ++i) {
        int32_t token = -1;
        checksum += sampler.sample_filtered(rows[size_t(i) % rows.size()].data(), every_other, 200, token);
      }
    }
    sampler.reset();
    const long allocations = end_counting_allocations();
    EXPECT_EQ(allocations, 0) << "temperature " << params.temperature << " top_k " << params.top_k;
    EXPECT_GT(checksum, 0);
  }
}

}  // namespace
}  // namespace jisu
