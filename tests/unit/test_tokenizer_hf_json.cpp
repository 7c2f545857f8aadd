// Hugging Face tokenizer.json loading: tokenizer.json files are built here from GGUF
// vocabularies (tokens, merges, token types) in the layouts GPT-2, DeepSeek Coder and Llama 2
// ship, then must reproduce the same reference vectors as the GGUF files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/tokenizer/tokenizer_fixtures.h"
#include "format/gguf_file.h"
#include "tokenizer/hf_tokenizer_gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace jisu::test {
namespace {

using json = nlohmann::json;

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  std::vector<double> scores;
  std::vector<std::string> merges;
};

GgufVocab read_gguf_vocab(const std::string& name) {
  const auto file = gguf::GgufFile::open(vocab_path(name));
  GgufVocab v;
  v.tokens = *file->get_string_array("tokenizer.ggml.tokens");
  v.types = *file->get_int_array("tokenizer.ggml.token_type");
  if (const auto* scores = file->get_float_array("tokenizer.ggml.scores")) v.scores = *scores;
  if (const auto* merges = file->get_string_array("tokenizer.ggml.merges")) v.merges = *merges;
  return v;
}

// model.vocab for the normal tokens; control (3) and user-defined (4) tokens go to added_tokens.
json base_json(const GgufVocab& v) {
  json vocab = json::object();
  json added = json::array();
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    vocab[v.tokens[id]] = id;
    if (v.types[id] == 3 || v.types[id] == 4)
      added.push_back({{"id", id}, {"content", v.tokens[id]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", v.types[id] == 4}, {"special", v.types[id] == 3}});
  }
  return {{"version", "1.0"}, {"added_tokens", added}, {"normalizer", nullptr}, {"pre_tokenizer", nullptr},
          {"post_processor", nullptr}, {"decoder", nullptr},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                     {"byte_fallback", false}, {"vocab", vocab}, {"merges", v.merges}}}};
}

std::string write_json(const json& root, const std::string& name) {
  const std::string dir = ::testing::TempDir() + "jisu_tokenizer_json_" + name;
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/tokenizer.json";
  std::ofstream(path) << root.dump();
  return path;
}

void expect_vectors(const Tokenizer& tokenizer, const std::string& vocab_name, const std::string& label) {
  const std::vector<VocabCase> cases = read_vocab_cases(vocab_path(vocab_name));
  size_t passed = 0;
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> ids = tokenizer.encode(c.input, false, false);
    if (ids == c.expected) ++passed;
    else ADD_FAILURE() << label << " '" << escaped(c.input) << "'\n  got     " << ids_to_string(ids) << "\n  expected" << c.expected_line;
  }
  std::printf("%s: %zu/%zu\n", label.c_str(), passed, cases.size());
  EXPECT_EQ(passed, cases.size());
}

// The same tokenizer.json written as GGUF tokenizer.ggml.* metadata (what `-m DIR` and
// `jisu convert` use) and read back by the GGUF loader must reproduce the same vectors.
std::unique_ptr<Tokenizer> through_gguf_metadata(const std::string& tokenizer_json) {
  const auto file = gguf::GgufFile::from_parts(tokenizer_json, gguf_tokenizer_metadata(tokenizer_json), {}, {});
  return Tokenizer::from_gguf(*file);
}

TEST(TokenizerHfJson, Gpt2ByteLevel) {
  const GgufVocab v = read_gguf_vocab("gpt-2");
  json root = base_json(v);
  root["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  root["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  const auto tokenizer = Tokenizer::from_hf_json(write_json(root, "gpt2"));
  expect_vectors(*through_gguf_metadata(write_json(root, "gpt2")), "gpt-2", "tokenizer.json as GGUF metadata (gpt-2)");
  EXPECT_EQ(tokenizer->kind(), TokenizerKind::ByteLevelBpe);
  EXPECT_EQ(tokenizer->n_vocab(), 50257);
  EXPECT_EQ(tokenizer->eos_id(), 50256);  // <|endoftext|>, found by its text
  expect_vectors(*tokenizer, "gpt-2", "tokenizer.json (gpt-2)");
  const std::string text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～";
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false, false)), text);
  EXPECT_EQ(tokenizer->encode("a<|endoftext|>", false, true), (std::vector<int32_t>{64, 50256}));
}

// Llama 3 / Qwen2 style: a Sequence of Split regexes, then ByteLevel without its own regex.
TEST(TokenizerHfJson, DeepseekCoderSplitSequence) {
  const GgufVocab v = read_gguf_vocab("deepseek-coder");
  json root = base_json(v);
  auto split = [](const std::string& regex) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  root["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {split("[\r\n]"), split("\\s?\\p{L}+"), split("\\s?\\p{P}+"),
        split("[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+"), split("\\p{N}"),
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  root["decoder"] = {{"type", "ByteLevel"}};
  const std::string path = write_json(root, "deepseek_coder");
  // BOS/EOS come from tokenizer_config.json when it sits next to the file.
  std::ofstream(std::filesystem::path(path).parent_path() / "tokenizer_config.json")
      << R"({"add_bos_token": true, "add_eos_token": false,
             "bos_token": {"content": "<｜begin▁of▁sentence｜>"}, "eos_token": "<｜end▁of▁sentence｜>"})";
  const auto tokenizer = Tokenizer::from_hf_json(path);
  EXPECT_EQ(tokenizer->bos_id(), 32013);
  EXPECT_EQ(tokenizer->eos_id(), 32014);
  EXPECT_TRUE(tokenizer->is_end_of_generation(32014));
  expect_vectors(*tokenizer, "deepseek-coder", "tokenizer.json (deepseek-coder)");
  const auto converted = through_gguf_metadata(path);
  expect_vectors(*converted, "deepseek-coder", "tokenizer.json as GGUF metadata (deepseek-coder)");
  EXPECT_EQ(converted->bos_id(), 32013);
  EXPECT_EQ(converted->encode("x", true, false).front(), 32013);
  EXPECT_EQ(tokenizer->encode("x", true, false).front(), 32013);
}

// The merges Hugging Face's LlamaConverter derives from a SentencePiece vocabulary: every split
// of a piece into two pieces, ordered by the merged piece's score (stable: by piece id, then by
// the parts' ids).
std::vector<json> sentencepiece_merges(const GgufVocab& v) {
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids[v.tokens[i]] = static_cast<int64_t>(i);
  struct Merge {
    int64_t left, right;
    double score;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const std::string& piece = v.tokens[id];
    std::vector<Merge> local;
    for (size_t cut = utf8::decode(piece, 0).length; cut < piece.size(); cut += utf8::decode(piece, cut).length) {
      const auto l = ids.find(piece.substr(0, cut)), r = ids.find(piece.substr(cut));
      if (l != ids.end() && r != ids.end()) local.push_back({l->second, r->second, v.scores[id]});
    }
    std::sort(local.begin(), local.end(),
              [](const Merge& a, const Merge& b) { return a.left != b.left ? a.left < b.left : a.right < b.right; });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<json> out;
  for (const Merge& m : merges) out.push_back(json::array({v.tokens[m.left], v.tokens[m.right]}));
  return out;
}

// Llama 2 / Mistral style: BPE with byte_fallback over '▁'-escaped text (Prepend + Replace).
TEST(TokenizerHfJson, LlamaSentencePieceStyleBpe) {
  const GgufVocab v = read_gguf_vocab("llama-spm");
  json root = base_json(v);
  root["added_tokens"] = json::array();
  for (int id : {0, 1, 2})
    root["added_tokens"].push_back({{"id", id}, {"content", v.tokens[id]}, {"special", true}, {"normalized", false}});
  root["model"]["byte_fallback"] = true;
  root["model"]["fuse_unk"] = true;
  root["model"]["unk_token"] = "<unk>";
  root["model"]["merges"] = sentencepiece_merges(v);
  root["normalizer"] = {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}};
  root["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  const auto tokenizer = Tokenizer::from_hf_json(write_json(root, "llama"));
  EXPECT_EQ(tokenizer->kind(), TokenizerKind::SentencePieceBpe);
  expect_vectors(*tokenizer, "llama-spm", "tokenizer.json (llama-spm)");
  const auto converted = through_gguf_metadata(write_json(root, "llama"));
  EXPECT_EQ(converted->kind(), TokenizerKind::SentencePieceBpe);
  expect_vectors(*converted, "llama-spm", "tokenizer.json as GGUF metadata (llama-spm)");
  EXPECT_EQ(converted->encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tokenizer->encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(" Hello\n world 🦙", true, false)), " Hello\n world 🦙");
}

TEST(TokenizerHfJson, RejectsWhatItCannotReproduce) {
  const std::string dir = ::testing::TempDir();
  EXPECT_THROW(Tokenizer::from_hf_json(dir + "/no-such-tokenizer.json"), Error);
  std::ofstream(dir + "/broken_tokenizer.json") << "{ not json";
  EXPECT_THROW(Tokenizer::from_hf_json(dir + "/broken_tokenizer.json"), Error);
  json unigram = {{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}};
  EXPECT_THROW(Tokenizer::from_hf_json(write_json(unigram, "unigram")), Error);
  json odd_split = base_json(read_gguf_vocab("gpt-2"));
  odd_split["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(a|b)+c"}}}, {"behavior", "Isolated"}};
  EXPECT_THROW(Tokenizer::from_hf_json(write_json(odd_split, "odd_split")), Error);
}

}  // namespace
}  // namespace jisu::test
