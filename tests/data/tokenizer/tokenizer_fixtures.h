#pragma once
// Test helpers for the tokenizer tests: fixture paths, the .inp/.out vector files of
// ../shared/fixtures/tokenizers, and loading a vocabulary by name.
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "format/gguf_file.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace jisu::test {

inline std::string tokenizer_fixture(const std::string& file) { return fixtures_dir() + "/tokenizers/" + file; }
inline std::string vocab_path(const std::string& name) { return tokenizer_fixture("ggml-vocab-" + name + ".gguf"); }

inline std::string read_text(const std::string& path) {
  const std::vector<char> bytes = read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

struct VocabCase {
  std::string input;
  std::vector<int32_t> expected;
  std::string expected_line;  // as written in .out
};

// NAME.gguf.inp holds the inputs, each followed by "\n__ggml_vocab_test__\n" (so an input may
// be empty or whitespace, and a trailing "\n" belongs to the separator). NAME.gguf.out holds one
// line of space-separated ids per input, in the same order.
inline std::vector<VocabCase> read_vocab_cases(const std::string& gguf_path) {
  const std::string inputs = read_text(gguf_path + ".inp");
  const std::string outputs = read_text(gguf_path + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0;;) {
    const size_t end = inputs.find(separator, pos);
    if (end == std::string::npos) {
      EXPECT_EQ(pos, inputs.size()) << "text after the last separator in " << gguf_path << ".inp";
      break;
    }
    cases.push_back({inputs.substr(pos, end - pos), {}, {}});
    pos = end + separator.size();
  }
  std::istringstream lines(outputs);
  std::string line;
  size_t index = 0;
  while (std::getline(lines, line)) {
    if (index >= cases.size()) {
      ADD_FAILURE() << "more lines in " << gguf_path << ".out than inputs";
      break;
    }
    cases[index].expected_line = line;
    std::istringstream ids(line);
    for (int64_t id; ids >> id;) cases[index].expected.push_back(static_cast<int32_t>(id));
    ++index;
  }
  EXPECT_EQ(index, cases.size()) << "inputs and expected lines differ in number for " << gguf_path;
  return cases;
}

inline std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  const std::unique_ptr<gguf::GgufFile> file = gguf::GgufFile::open(path);
  return Tokenizer::from_gguf(*file);
}

inline std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {  // appended piecewise: " " + to_string() trips GCC 12's -Wrestrict false positive
    out += ' ';
    out += std::to_string(id);
  }
  return out;
}

// Printable form of a test input for failure messages.
inline std::string escaped(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    else out += static_cast<char>(c);
  }
  return out;
}

}  // namespace jisu::test
