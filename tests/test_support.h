#pragma once
// Helpers shared by tests: where ../shared lives, reading fixture files, comparing arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace jisu::test {

// ../shared next to the repository, or $JISU_SHARED_DIR.
inline std::string shared_dir() {
  if (const char* env = std::getenv("JISU_SHARED_DIR"); env && *env) return env;
  return JISU_DEFAULT_SHARED_DIR;
}
inline std::string fixtures_dir() { return shared_dir() + "/fixtures"; }
inline std::string jisu_binary() { return JISU_BINARY_PATH; }

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot open " << path;
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<float> read_floats(const std::string& path) {
  std::vector<char> bytes = read_bytes(path);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

// ||a - b|| / ||b|| over the whole arrays (the fixtures README's measure).
inline double relative_l2_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / (norm > 0 ? norm : 1));
}

}  // namespace jisu::test
