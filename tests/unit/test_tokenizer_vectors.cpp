// Every vocabulary with reference vectors in ../shared/fixtures/tokenizers must reproduce them
// exactly: each .inp case encoded without BOS/EOS and without special-token parsing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "data/tokenizer/tokenizer_fixtures.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace jisu::test {
namespace {

const std::vector<std::string>& vocabularies_with_vectors() {
  static const std::vector<std::string> names = {"llama-spm", "phi-3",        "gpt-2",          "falcon",
                                                 "mpt",       "starcoder",    "refact",         "deepseek-llm",
                                                 "deepseek-coder", "bert-bge"};
  return names;
}

// Runs all cases of one vocabulary; prints "NAME: passed/total".
void expect_all_vectors(const std::string& name, const Tokenizer& tokenizer, const std::vector<VocabCase>& cases) {
  ASSERT_FALSE(cases.empty());
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer.encode(cases[i].input, /*add_special=*/false, /*parse_special=*/false);
    if (ids == cases[i].expected)
      ++passed;
    else
      ADD_FAILURE() << name << " case " << i << " '" << escaped(cases[i].input) << "'\n  got     " << ids_to_string(ids)
                    << "\n  expected" << ids_to_string(cases[i].expected);
  }
  std::printf("%s: %zu/%zu\n", name.c_str(), passed, cases.size());
  EXPECT_EQ(passed, cases.size());
}

class TokenizerVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVectors, EncodeMatchesReferenceExactly) {
  const std::string path = vocab_path(GetParam());
  const std::unique_ptr<Tokenizer> tokenizer = load_gguf_tokenizer(path);
  expect_all_vectors(GetParam(), *tokenizer, read_vocab_cases(path));
}

INSTANTIATE_TEST_SUITE_P(Gguf, TokenizerVectors, ::testing::ValuesIn(vocabularies_with_vectors()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// No vocabulary with vectors may be left out of the list above.
TEST(TokenizerVectorsCoverage, EveryFixtureWithVectorsIsTested) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(tokenizer_fixture(""))) {
    const std::string file = entry.path().filename().string();
    const std::string prefix = "ggml-vocab-", suffix = ".gguf.inp";
    if (file.rfind(prefix, 0) == 0 && file.size() > prefix.size() + suffix.size() &&
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0)
      on_disk.insert(file.substr(prefix.size(), file.size() - prefix.size() - suffix.size()));
  }
  const std::set<std::string> tested(vocabularies_with_vectors().begin(), vocabularies_with_vectors().end());
  EXPECT_EQ(on_disk, tested);
}

// The Llama 2 SentencePiece protobuf must tokenize exactly like the llama-spm GGUF vocabulary
// (the same model), and therefore reproduce its reference vectors too.
TEST(TokenizerSentencePieceModel, Llama2ModelMatchesGgufVocabulary) {
  const std::unique_ptr<Tokenizer> from_model = Tokenizer::from_sentencepiece_model(tokenizer_fixture("llama2-tokenizer.model"));
  const std::unique_ptr<Tokenizer> from_gguf = load_gguf_tokenizer(vocab_path("llama-spm"));
  ASSERT_EQ(from_model->n_vocab(), from_gguf->n_vocab());
  EXPECT_EQ(from_model->bos_id(), 1);
  EXPECT_EQ(from_model->eos_id(), 2);
  const std::vector<VocabCase> cases = read_vocab_cases(vocab_path("llama-spm"));
  size_t equal = 0;
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> model_ids = from_model->encode(c.input, false, false);
    EXPECT_EQ(model_ids, from_gguf->encode(c.input, false, false)) << "'" << escaped(c.input) << "'";
    equal += model_ids == c.expected;
  }
  std::printf("llama2-tokenizer.model: %zu/%zu\n", equal, cases.size());
  EXPECT_EQ(equal, cases.size());
  EXPECT_EQ(from_model->encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
}

// The demo model ships its SentencePiece training model next to the GGUF files.
TEST(TokenizerSentencePieceModel, DemoModelMatchesItsGguf) {
  const std::string dir = shared_dir() + "/models/demo-shakespeare/";
  const std::unique_ptr<Tokenizer> from_model = Tokenizer::from_sentencepiece_model(dir + "spm.model");
  const std::unique_ptr<Tokenizer> from_gguf = load_gguf_tokenizer(dir + "model.q8_0.gguf");
  ASSERT_EQ(from_gguf->n_vocab(), 1024);
  const std::string text = read_text(dir + "valid.txt");
  size_t compared = 0;
  for (size_t pos = 0; pos < text.size(); pos += 997, ++compared) {
    const std::string chunk = text.substr(pos, 500);
    ASSERT_EQ(from_model->encode(chunk, true, false), from_gguf->encode(chunk, true, false)) << "at byte " << pos;
    ASSERT_EQ(from_gguf->decode(from_gguf->encode(chunk, true, false)), chunk) << "at byte " << pos;
  }
  EXPECT_GT(compared, 100u);
}

}  // namespace
}  // namespace jisu::test
