#pragma once
// Truncated SVD of one weight matrix into a low-rank pair W ~= A B (format/weight_matrix.h:
// LowRankFactors), plain or activation-whitened as in SVD-LLM (Wang et al., 2024):
//  - plain: W = U S V^T, A = U_r sqrt(S_r), B = sqrt(S_r) V_r^T, the best rank-r approximation
//    in the Frobenius norm (Eckart-Young);
//  - whitened by the calibration inputs' Gram matrix G = X^T X (one row of X per token): with
//    the Cholesky factor L (G = L L^T), W L = U S V^T, A = U_r sqrt(S_r),
//    B = sqrt(S_r) V_r^T L^-1, which minimises ||(W - A B) X^T||_F over rank-r pairs, the error
//    on the outputs the calibration inputs produce rather than on the weights.
// Computed in double with Eigen's divide-and-conquer SVD (BDCSVD); the factors are rounded to
// float at the end.
#include <cstdint>
#include <span>
#include <vector>

namespace jisu::compress {

struct LowRankPair {
  int64_t rows = 0, cols = 0, rank = 0;
  std::vector<float> a;  // rows x rank, row-major
  std::vector<float> b;  // rank x cols, row-major
  double ridge = 0;      // added to the Gram diagonal to make it positive definite (whitened only)
};

// The largest rank r, a multiple of `multiple`, with r (rows + cols) <= ratio rows cols: the
// pair keeps at most `ratio` of the matrix's parameters. 0 when no such rank is positive.
int64_t low_rank_for_ratio(int64_t rows, int64_t cols, double ratio, int64_t multiple);

// W: rows x cols, row-major. gram: empty (plain SVD) or cols x cols, symmetric (whitened); when
// it is not positive definite a ridge of 1e-6 of its mean diagonal, grown tenfold until the
// Cholesky factorisation succeeds, is added. Throws jisu::Error for a rank outside
// [1, min(rows, cols)] or a Gram matrix of the wrong size or without positive diagonal.
LowRankPair factorize_low_rank(std::span<const double> w, int64_t rows, int64_t cols, int64_t rank,
                               std::span<const double> gram = {});

}  // namespace jisu::compress
