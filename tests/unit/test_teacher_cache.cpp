// Distillation from a cached top-k teacher (train/teacher_cache.h, distillation_loss_top_k):
// the top-k loss's gradient against central finite differences, its value against the
// definition written out, equality with the exact loss when k = vocab (through a cache file
// round trip), and the refusals of a stale, truncated or foreign cache file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "core/error.h"
#include "train/teacher_cache.h"
#include "train/train_ops.h"

namespace jisu::train {
namespace {

std::vector<double> random_values(size_t n, uint32_t seed, double scale) {
  std::mt19937 generator(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> values(n);
  for (auto& value : values) value = normal(generator);
  return values;
}

std::vector<float> to_float(const std::vector<double>& values) { return {values.begin(), values.end()}; }

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("jisu-teacher-cache-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

TEST(TeacherTopK, GradientMatchesFiniteDifferencesAndValueMatchesDefinition) {
  const size_t rows = 3, vocab = 7, k = 3;
  auto z = random_values(rows * vocab, 40, 2.0);
  const std::vector<float> teacher = to_float(random_values(rows * vocab, 41, 2.0));
  const std::vector<int32_t> targets = {2, -1, 6};
  for (const double temperature : {1.0, 2.5})
    for (const double alpha : {0.0, 0.4, 1.0}) {
      std::vector<int32_t> ids(rows * k);
      std::vector<float> log_probs(rows * k);
      teacher_top_k(nullptr, teacher.data(), rows, vocab, k, temperature, ids.data(), log_probs.data());
      const auto loss = [&] {
        return distillation_loss_top_k<double>(nullptr, z.data(), ids.data(), log_probs.data(), k, targets.data(),
                                               nullptr, rows, vocab, temperature, alpha, 1.0);
      };
      std::vector<double> dz(rows * vocab);
      distillation_loss_top_k<double>(nullptr, z.data(), ids.data(), log_probs.data(), k, targets.data(), dz.data(),
                                      rows, vocab, temperature, alpha, 1.0);
      const double h = 1e-5;
      for (size_t i = 0; i < z.size(); ++i) {
        const double saved = z[i];
        z[i] = saved + h;
        const double up = loss();
        z[i] = saved - h;
        const double down = loss();
        z[i] = saved;
        const double numeric = (up - down) / (2 * h);
        EXPECT_NEAR(dz[i], numeric, 1e-6 * (1 + std::abs(numeric))) << "T " << temperature << " alpha " << alpha;
      }
      // The definition: the k most probable teacher tokens (checked against a full sort),
      // their KL terms plus one tail bucket, plus the hard cross-entropy.
      double expected = 0;
      for (size_t r = 0; r < rows; ++r) {
        std::vector<double> qt(vocab), qs(vocab);
        double st = 0, ss = 0, sh = 0;
        for (size_t i = 0; i < vocab; ++i) {
          st += std::exp(double(teacher[r * vocab + i]) / temperature);
          ss += std::exp(z[r * vocab + i] / temperature);
          sh += std::exp(z[r * vocab + i]);
        }
        std::vector<size_t> order(vocab);
        for (size_t i = 0; i < vocab; ++i) {
          qt[i] = std::exp(double(teacher[r * vocab + i]) / temperature) / st;
          qs[i] = std::exp(z[r * vocab + i] / temperature) / ss;
          order[i] = i;
        }
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return qt[a] > qt[b]; });
        double kl = 0, top_t = 0, top_s = 0;
        for (size_t j = 0; j < k; ++j) {
          const size_t id = order[j];
          EXPECT_EQ(ids[r * k + j], int32_t(id));
          EXPECT_NEAR(log_probs[r * k + j], std::log(qt[id]), 1e-6);
          kl += qt[id] * std::log(qt[id] / qs[id]);
          top_t += qt[id];
          top_s += qs[id];
        }
        kl += (1 - top_t) * std::log((1 - top_t) / (1 - top_s));
        const double hard = targets[r] >= 0 ? std::log(sh) - z[r * vocab + size_t(targets[r])] : 0.0;
        expected += (targets[r] >= 0 ? alpha * hard : 0.0) + (1 - alpha) * temperature * temperature * kl;
      }
      EXPECT_NEAR(loss(), expected, 1e-6 * (1 + std::abs(expected)));
    }
}

TEST(TeacherTopK, CachedLossWithFullVocabularyEqualsTheExactLoss) {
  TempDir dir;
  const size_t batch = 2, seq = 3, rows = batch * seq, vocab = 9, steps = 2;
  const std::vector<int32_t> targets = {1, 8, 0, -1, 4, 4};
  TeacherCacheKey key;
  key.vocab = vocab;
  key.k = vocab;
  key.batch = batch;
  key.seq_len = seq;
  key.grad_accum = 1;
  key.steps = steps;
  key.seed = 5;
  key.temperature = 2.0;
  key.teacher_fingerprint = 11;
  key.tokens_fingerprint = 12;
  std::vector<std::vector<float>> teachers;
  {
    TeacherTopKCache writer(dir.file("cache.bin"), key);
    ASSERT_FALSE(writer.reading());
    for (size_t step = 1; step <= steps; ++step) {
      teachers.push_back(to_float(random_values(rows * vocab, uint32_t(50 + step), 3.0)));
      std::vector<int32_t> ids(rows * vocab);
      std::vector<float> log_probs(rows * vocab);
      teacher_top_k(nullptr, teachers.back().data(), rows, vocab, vocab, key.temperature, ids.data(), log_probs.data());
      writer.append(int64_t(step), 0, ids.data(), log_probs.data());
    }
    writer.commit();
  }
  TeacherTopKCache reader(dir.file("cache.bin"), key);
  ASSERT_TRUE(reader.reading());
  for (size_t step = 1; step <= steps; ++step) {
    const std::vector<double> z = random_values(rows * vocab, uint32_t(60 + step), 2.0);
    std::vector<int32_t> ids(rows * vocab);
    std::vector<float> log_probs(rows * vocab);
    reader.read(int64_t(step), 0, ids.data(), log_probs.data());
    std::vector<double> cached_gradient(rows * vocab), exact_gradient(rows * vocab);
    const double cached =
        distillation_loss_top_k<double>(nullptr, z.data(), ids.data(), log_probs.data(), vocab, targets.data(),
                                        cached_gradient.data(), rows, vocab, key.temperature, 0.3, 1.0);
    const double exact = distillation_loss<double>(nullptr, z.data(), teachers[step - 1].data(), targets.data(),
                                                   exact_gradient.data(), rows, vocab, key.temperature, 0.3, 1.0);
    // The cache holds float log-probabilities: equal to float rounding.
    EXPECT_NEAR(cached, exact, 1e-6 * (1 + std::abs(exact)));
    for (size_t i = 0; i < rows * vocab; ++i) EXPECT_NEAR(cached_gradient[i], exact_gradient[i], 1e-6);
  }
}

TEST(TeacherTopK, StaleTruncatedOrForeignCacheIsRefusedWithItsReason) {
  TempDir dir;
  TeacherCacheKey key;
  key.vocab = 5;
  key.k = 2;
  key.batch = 1;
  key.seq_len = 2;
  key.grad_accum = 1;
  key.steps = 1;
  key.seed = 1;
  key.temperature = 2.0;
  key.teacher_fingerprint = 3;
  key.tokens_fingerprint = 4;
  const std::string path = dir.file("cache.bin");
  {
    TeacherTopKCache writer(path, key);
    const std::vector<int32_t> ids = {0, 1, 2, 3};
    const std::vector<float> log_probs = {-0.5f, -1.5f, -0.7f, -1.0f};
    writer.append(1, 0, ids.data(), log_probs.data());
    writer.commit();
  }
  const auto expect_refused = [&](const TeacherCacheKey& other, const std::string& reason) {
    try {
      TeacherTopKCache cache(path, other);
      ADD_FAILURE() << "accepted a cache whose " << reason << " differs";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
    }
  };
  TeacherCacheKey other = key;
  other.seed = 2;
  expect_refused(other, "seed is 1, this run's 2");
  other = key;
  other.teacher_fingerprint = 99;
  expect_refused(other, "teacher");
  other = key;
  other.tokens_fingerprint = 99;
  expect_refused(other, "training text");
  other = key;
  other.k = 3;
  expect_refused(other, "top-k");
  other = key;
  other.temperature = 1.0;
  expect_refused(other, "temperature");
  other = key;
  other.steps = 2;
  expect_refused(other, "step count");

  // Truncated: one byte short of its records.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
  expect_refused(key, "truncated");
  // Not a cache at all.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "GGUF and something else entirely, long enough";
  expect_refused(key, "not a jisu teacher cache");
  std::filesystem::remove(path);
  // An interrupted writer leaves no file behind.
  {
    TeacherTopKCache writer(path, [&] {
      TeacherCacheKey two = key;
      two.steps = 2;
      return two;
    }());
    const std::vector<int32_t> ids = {0, 1, 2, 3};
    const std::vector<float> log_probs = {-0.5f, -1.5f, -0.7f, -1.0f};
    writer.append(1, 0, ids.data(), log_probs.data());
    writer.commit();  // one of two steps: not committed
    EXPECT_THROW(writer.append(3, 0, ids.data(), log_probs.data()), Error);  // out of order
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  // k outside [1, vocab].
  other = key;
  other.k = 6;
  EXPECT_THROW(TeacherTopKCache(dir.file("x.bin"), other), Error);
}

}  // namespace
}  // namespace jisu::train
