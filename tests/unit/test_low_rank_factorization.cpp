// compress/low_rank_factorization.h against matrices whose answer is known in closed form
// (the numpy float64 comparison of real weights is tests/e2e/low_rank.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "compress/low_rank_factorization.h"
#include "core/error.h"

namespace jisu::compress {
namespace {

std::vector<double> product(const LowRankPair& pair) {
  std::vector<double> out(static_cast<size_t>(pair.rows * pair.cols), 0.0);
  for (int64_t i = 0; i < pair.rows; ++i)
    for (int64_t k = 0; k < pair.rank; ++k)
      for (int64_t j = 0; j < pair.cols; ++j)
        out[static_cast<size_t>(i * pair.cols + j)] +=
            static_cast<double>(pair.a[static_cast<size_t>(i * pair.rank + k)]) * pair.b[static_cast<size_t>(k * pair.cols + j)];
  return out;
}

// W = u1 v1^T * 3 + u2 v2^T * 1 with orthonormal u, v: singular values 3 and 1.
std::vector<double> two_term_matrix(int64_t rows, int64_t cols, bool second_term) {
  std::vector<double> w(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const double u1 = 1 / std::sqrt(double(rows)), v1 = 1 / std::sqrt(double(cols));
      const double u2 = (i % 2 ? -1 : 1) / std::sqrt(double(rows)), v2 = (j % 2 ? -1 : 1) / std::sqrt(double(cols));
      w[static_cast<size_t>(i * cols + j)] = 3 * u1 * v1 + (second_term ? u2 * v2 : 0.0);
    }
  return w;
}

TEST(LowRankFactorization, RankForRatioKeepsTheBudget) {
  EXPECT_EQ(low_rank_for_ratio(256, 256, 0.5, 1), 64);   // 64 * 512 = 0.5 * 256 * 256
  EXPECT_EQ(low_rank_for_ratio(768, 256, 0.5, 1), 96);
  EXPECT_EQ(low_rank_for_ratio(128, 256, 0.5, 1), 42);   // 42 * 384 <= 16384 < 43 * 384
  EXPECT_EQ(low_rank_for_ratio(128, 256, 0.5, 32), 32);
  EXPECT_EQ(low_rank_for_ratio(128, 256, 0.05, 32), 0);  // a rank of zero: the caller refuses
  EXPECT_EQ(low_rank_for_ratio(4, 4, 1.0, 1), 2);
  EXPECT_EQ(low_rank_for_ratio(4, 4, 0.0, 1), 0);
}

TEST(LowRankFactorization, TruncationKeepsTheLargestSingularValue) {
  const int64_t rows = 6, cols = 4;
  const LowRankPair one = factorize_low_rank(two_term_matrix(rows, cols, true), rows, cols, 1);
  const std::vector<double> best = two_term_matrix(rows, cols, false), ab = product(one);
  for (size_t i = 0; i < ab.size(); ++i) EXPECT_NEAR(ab[i], best[i], 1e-6);
  const std::vector<double> exact = two_term_matrix(rows, cols, true);
  const std::vector<double> ab2 = product(factorize_low_rank(exact, rows, cols, 2));
  for (size_t i = 0; i < ab2.size(); ++i) EXPECT_NEAR(ab2[i], exact[i], 1e-6);
}

TEST(LowRankFactorization, WhiteningWithIdentityGramIsPlainSvd) {
  const int64_t rows = 6, cols = 4;
  std::vector<double> gram(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i) gram[static_cast<size_t>(i * cols + i)] = 4.0;  // X^T X = 4 I
  const std::vector<double> ab = product(factorize_low_rank(two_term_matrix(rows, cols, true), rows, cols, 1, gram));
  const std::vector<double> best = two_term_matrix(rows, cols, false);
  for (size_t i = 0; i < ab.size(); ++i) EXPECT_NEAR(ab[i], best[i], 1e-6);
}

TEST(LowRankFactorization, SingularGramGetsARidge) {
  const int64_t rows = 6, cols = 4;
  std::vector<double> gram(static_cast<size_t>(cols * cols), 1.0);  // one input direction only
  const LowRankPair pair = factorize_low_rank(two_term_matrix(rows, cols, true), rows, cols, 1, gram);
  EXPECT_GT(pair.ridge, 0.0);
  for (float value : pair.a) EXPECT_TRUE(std::isfinite(value));
  for (float value : pair.b) EXPECT_TRUE(std::isfinite(value));
}

TEST(LowRankFactorization, RefusesImpossibleRanksAndGrams) {
  const std::vector<double> w = two_term_matrix(6, 4, true);
  EXPECT_THROW(factorize_low_rank(w, 6, 4, 0), Error);
  EXPECT_THROW(factorize_low_rank(w, 6, 4, 5), Error);
  EXPECT_THROW(factorize_low_rank(w, 6, 4, 1, std::vector<double>(9, 1.0)), Error);
  EXPECT_THROW(factorize_low_rank(w, 6, 4, 1, std::vector<double>(16, 0.0)), Error);
}

}  // namespace
}  // namespace jisu::compress
