#include "compress/low_rank_factorization.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace jisu::compress {
namespace {

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The lower Cholesky factor of gram (+ ridge on the diagonal when needed).
Eigen::MatrixXd whitening_factor(std::span<const double> gram, int64_t cols, double& ridge) {
  Eigen::MatrixXd g = Eigen::Map<const RowMajor>(gram.data(), cols, cols);
  g = 0.5 * (g + g.transpose());  // symmetric to the last bit whatever order it was summed in
  const double mean_diagonal = g.diagonal().mean();
  if (!(mean_diagonal > 0) || !std::isfinite(mean_diagonal))
    throw Error("the calibration inputs' Gram matrix has no positive diagonal", "is the calibration text empty?");
  ridge = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    Eigen::LLT<Eigen::MatrixXd> llt(g + ridge * Eigen::MatrixXd::Identity(cols, cols));
    if (llt.info() == Eigen::Success) {
      Eigen::MatrixXd lower = llt.matrixL();
      // A positive-definite Gram whose factor is still numerically singular (a near-constant
      // input column) would blow up L^-1: demand a sane condition before accepting it.
      const double smallest = lower.diagonal().cwiseAbs().minCoeff(), largest = lower.diagonal().cwiseAbs().maxCoeff();
      if (smallest > 1e-7 * largest) return lower;
    }
    ridge = ridge == 0 ? 1e-6 * mean_diagonal : ridge * 10;
  }
  throw Error("the calibration inputs' Gram matrix stays singular with a ridge of " + std::to_string(ridge));
}

}  // namespace

int64_t low_rank_for_ratio(int64_t rows, int64_t cols, double ratio, int64_t multiple) {
  if (rows <= 0 || cols <= 0 || multiple <= 0 || !(ratio > 0)) return 0;
  const double budget = ratio * static_cast<double>(rows) * static_cast<double>(cols);
  auto rank = static_cast<int64_t>(std::floor(budget / static_cast<double>(rows + cols)));
  rank = std::min(rank, std::min(rows, cols));
  return rank / multiple * multiple;
}

LowRankPair factorize_low_rank(std::span<const double> w, int64_t rows, int64_t cols, int64_t rank,
                               std::span<const double> gram) {
  if (rank < 1 || rank > std::min(rows, cols))
    throw Error("rank " + std::to_string(rank) + " is outside [1, " + std::to_string(std::min(rows, cols)) + "]");
  JISU_ASSERT(w.size() == static_cast<size_t>(rows * cols));
  if (!gram.empty() && gram.size() != static_cast<size_t>(cols * cols))
    throw Error("the Gram matrix has " + std::to_string(gram.size()) + " values, expected " + std::to_string(cols * cols));
  LowRankPair pair;
  pair.rows = rows;
  pair.cols = cols;
  pair.rank = rank;

  const Eigen::Map<const RowMajor> weights(w.data(), rows, cols);
  Eigen::MatrixXd lower;
  if (!gram.empty()) lower = whitening_factor(gram, cols, pair.ridge);
  const Eigen::MatrixXd target = gram.empty() ? Eigen::MatrixXd(weights) : Eigen::MatrixXd(weights * lower);
  const Eigen::BDCSVD<Eigen::MatrixXd> svd(target, Eigen::ComputeThinU | Eigen::ComputeThinV);
  if (svd.info() != Eigen::Success) throw Error("the SVD did not converge");
  const Eigen::VectorXd root = svd.singularValues().head(rank).cwiseSqrt();
  const Eigen::MatrixXd a = svd.matrixU().leftCols(rank) * root.asDiagonal();
  // B = sqrt(S_r) V_r^T L^-1, i.e. B^T = L^-T (V_r sqrt(S_r)): one triangular solve.
  Eigen::MatrixXd b_transposed = svd.matrixV().leftCols(rank) * root.asDiagonal();
  if (!gram.empty()) b_transposed = lower.transpose().triangularView<Eigen::Upper>().solve(b_transposed);

  pair.a.resize(static_cast<size_t>(rows * rank));
  pair.b.resize(static_cast<size_t>(rank * cols));
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(pair.a.data(), rows, rank) =
      a.cast<float>();
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(pair.b.data(), rank, cols) =
      b_transposed.transpose().cast<float>();
  return pair;
}

}  // namespace jisu::compress
