// A micro-benchmark of the sparse int8 kernels (and the 2:4 repacked one, nm_repacked.h, where
// the CPU runs it) against dense Q8_0's repacked kernel, one matrix x
// one token (decode), on one thread, timed in thread CPU seconds (so a shared machine's other
// processes shorten it less than wall time). Not a test: build it with
//   cmake --build build --target sparse_kernel_bench
// and run build/tests/sparse_kernel_bench [reps] [rows] [copies] [cols]. The default is
// TinyLlama's ffn_gate shape (5632 x 2048), 12 copies of each matrix taken in turn, so that
// they stream from memory (about 140 MB of dense Q8_0) rather than from the caches; 1 copy of
// 512 rows measures the kernels in cache (their instruction cost).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/kv_quantize.h"
#include "backends/cpu/nm_repacked.h"
#include "compress/sparse_rows.h"

using namespace jisu;
using namespace jisu::cpu;

namespace {

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

size_t arg(int argc, char** argv, int i, size_t fallback) {
  return argc > i ? static_cast<size_t>(std::strtoul(argv[i], nullptr, 10)) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t reps = arg(argc, argv, 1, 20), rows = arg(argc, argv, 2, 5632), copies = arg(argc, argv, 3, 12),
               n = arg(argc, argv, 4, 2048);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(rows * n), x(n), y(rows);
  for (float& v : w) v = normal(rng);
  for (float& v : x) v = normal(rng);
  std::vector<ActivationBlock> xq(n / 32);
  quantize_activations(x.data(), n, xq.data());
  std::vector<uint8_t> q8(rows * row_bytes(DType::Q8_0, n));
  for (size_t r = 0; r < rows; ++r) quantize_kv_row(DType::Q8_0, &w[r * n], q8.data() + r * row_bytes(DType::Q8_0, n), n);

  auto time = [&](const char* name, double bytes, auto&& product) {
    product(0);
    double best = 1e30;
    for (int round = 0; round < 3; ++round) {
      const double start = thread_seconds();
      for (size_t i = 0; i < reps; ++i) product(i % copies);
      best = std::min(best, (thread_seconds() - start) / static_cast<double>(reps));
    }
    std::printf("%-20s %8.3f ms  %6.2f G weights/s  %6.2f GB/s (per thread CPU second)\n", name, best * 1e3,
                static_cast<double>(rows * n) / best * 1e-9, bytes / best * 1e-9);
    return best;
  };

  std::vector<std::unique_ptr<RepackedWeights>> dense;
  for (size_t c = 0; c < copies; ++c)
    dense.push_back(std::make_unique<RepackedWeights>(DType::Q8_0, q8.data(), row_bytes(DType::Q8_0, n), rows, n));
  const double dense_s = time("dense q8_0", static_cast<double>(q8.size()), [&](size_t c) {
    matmul_repacked_int8({DType::Q8_0, dense[c]->data(), dense[c]->group_bytes(), n, xq.data(), 0, 1, y.data(), rows, 0,
                          rows});
  });

  for (DType type : {sparse_q8_type(19), kJisuNmQ8}) {
    const size_t bytes = row_bytes(type, n);
    std::vector<std::vector<uint8_t>> sparse(copies, std::vector<uint8_t>(rows * bytes));
    std::vector<float> scores(n);
    std::vector<uint8_t> keep(n);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t j = 0; j < n; ++j) scores[j] = std::fabs(w[r * n + j]);
      if (type == kJisuNmQ8)
        compress::keep_largest_per_group(scores, 2, 4, keep);
      else
        compress::keep_largest(scores, n / 64 * 19, keep);
      compress::encode_sparse_row(type, &w[r * n], keep.data(), n, sparse[0].data() + r * bytes);
    }
    for (size_t c = 1; c < copies; ++c) sparse[c] = sparse[0];
    const double sparse_s = time(std::string(dtype_name(type)).c_str(), static_cast<double>(rows * bytes), [&](size_t c) {
      matmul_rows_sparse_int8({type, sparse[c].data(), bytes, n, xq.data(), 0, 1, y.data(), rows, 0, rows});
    });
    std::printf("  %s / dense q8_0 speed: %.2fx\n", std::string(dtype_name(type)).c_str(), dense_s / sparse_s);
    if (type != kJisuNmQ8 || !nm_repacked_kernel_runs_on(active_isa())) continue;
    // The same 2:4 rows as the backend runs them on AVX-512 with VBMI: the repacked copy.
    std::vector<std::unique_ptr<NmRepackedWeights>> repacked;
    for (size_t c = 0; c < copies; ++c) repacked.push_back(NmRepackedWeights::from_rows(sparse[c].data(), bytes, rows, n));
    const double repacked_s = time("jisu_nm_q8 repacked", static_cast<double>(repacked[0]->bytes()), [&](size_t c) {
      matmul_nm_repacked({kJisuNmQ8, repacked[c]->data(), repacked[c]->group_bytes(), n, xq.data(), 0, 1, y.data(), rows, 0, rows});
    });
    std::printf("  jisu_nm_q8 repacked / dense q8_0 speed: %.2fx\n", dense_s / repacked_s);
  }
}
