// Tokenizer::from_gguf: builds the tokenizer a GGUF file describes in its tokenizer.ggml.* keys.
// Defaults for absent keys follow llama.cpp, which wrote these files.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "format/gguf_file.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece_bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocabulary.h"
#include "tokenizer/wordpiece.h"

namespace jisu {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string key(std::string_view name) { return std::string(kPrefix) + std::string(name); }

TokenType token_type_from(int64_t value) {
  return (value >= 1 && value <= 6) ? static_cast<TokenType>(value) : TokenType::Undefined;
}

std::unique_ptr<Vocabulary> read_vocabulary(const gguf::GgufFile& file) {
  const std::string& path = file.path();
  const std::vector<std::string>* tokens = file.get_string_array(key("tokens"));
  if (!tokens || tokens->empty())
    throw Error(path + ": the file has no vocabulary (" + key("tokens") + " is missing)",
                "use a GGUF file converted with its tokenizer");
  const size_t n = tokens->size();
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(path + ": the vocabulary is too large");

  // Scores are float32 in practice; llama.cpp also accepts int32.
  std::vector<double> scores(n, 0.0);
  if (const gguf::MetadataValue* value = file.find(key("scores"))) {
    const bool integers = value->is_array() && value->element_type == gguf::ValueType::INT32;
    if (integers) {
      const std::vector<int64_t>& values = *file.get_int_array(key("scores"));
      if (values.size() < n) throw Error(path + ": " + key("scores") + " has fewer entries than the vocabulary");
      for (size_t i = 0; i < n; ++i) scores[i] = static_cast<double>(values[i]);
    } else {
      const std::vector<double>& values = *file.get_float_array(key("scores"));
      if (values.size() < n) throw Error(path + ": " + key("scores") + " has fewer entries than the vocabulary");
      std::copy_n(values.begin(), n, scores.begin());
    }
  }
  const std::vector<int64_t>* types = file.get_int_array(key("token_type"));
  if (types && types->size() < n) throw Error(path + ": " + key("token_type") + " has fewer entries than the vocabulary");

  auto vocabulary = std::make_unique<Vocabulary>();
  for (size_t i = 0; i < n; ++i)
    vocabulary->add((*tokens)[i], static_cast<float>(scores[i]), types ? token_type_from((*types)[i]) : TokenType::Normal);
  vocabulary->finalize(path);
  return vocabulary;
}

// An id key if present and inside the vocabulary, else `fallback` (when that is in range).
int32_t special_id(const gguf::GgufFile& file, const Vocabulary& vocabulary, std::string_view name, int32_t fallback) {
  const std::optional<int64_t> value = file.get_int(key(name));
  if (value && *value >= 0 && *value < vocabulary.size()) return static_cast<int32_t>(*value);
  return vocabulary.contains(fallback) ? fallback : -1;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Per-model token options GGUF has no key for (llama.cpp hard-codes the same ones).
void apply_strip_rules(const gguf::GgufFile& file, Vocabulary& vocabulary, std::string_view pre) {
  const std::string name = lowercase(file.get_string("general.name").value_or(""));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    // Phi-3's added tokens swallow the whitespace after them, except these three.
    for (int32_t id = 0; id < vocabulary.size(); ++id) {
      const TokenType t = vocabulary.type(id);
      if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
        vocabulary.entry(id).rstrip = true;
    }
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"})
      if (const int32_t id = vocabulary.find(text); id >= 0) vocabulary.entry(id).rstrip = false;
  }
  if (pre == "jina-v2-de" || pre == "jina-v2-es" || pre == "jina-v2-code")
    if (const int32_t id = vocabulary.find("<mask>"); id >= 0) vocabulary.entry(id).lstrip = true;
  if (name.find("modern-bert") != std::string::npos)
    if (const int32_t id = vocabulary.find("[MASK]"); id >= 0) vocabulary.entry(id).lstrip = true;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& file) {
  const std::string& path = file.path();
  const std::optional<std::string> model_name = file.get_string(key("model"));
  if (!model_name)
    throw Error(path + ": the file has no tokenizer (" + key("model") + " is missing)",
                "use a GGUF file converted with its tokenizer");
  const std::string pre = file.get_string(key("pre")).value_or("");
  std::unique_ptr<Vocabulary> vocabulary = read_vocabulary(file);
  Vocabulary& v = *vocabulary;
  apply_strip_rules(file, v, pre);

  std::unique_ptr<TokenizerModel> model;
  TokenizerKind kind;
  bool add_bos = false;
  bool add_eos = false;
  if (*model_name == "llama") {
    kind = TokenizerKind::SentencePieceBpe;
    v.special.bos = special_id(file, v, "bos_token_id", 1);
    v.special.eos = special_id(file, v, "eos_token_id", 2);
    v.special.unknown = special_id(file, v, "unknown_token_id", 0);
    add_bos = true;
    SentencePieceOptions options;
    options.merge_order = SentencePieceOptions::MergeOrder::PieceScore;
    options.dummy_prefix = file.get_bool(key("add_space_prefix")).value_or(true)
                               ? SentencePieceOptions::DummyPrefix::EveryFragment
                               : SentencePieceOptions::DummyPrefix::Never;
    options.remove_extra_whitespace = file.get_bool(key("remove_extra_whitespaces")).value_or(false);
    model = std::make_unique<SentencePieceBpe>(v, options);
  } else if (*model_name == "gpt2") {
    kind = TokenizerKind::ByteLevelBpe;
    const std::optional<GgufPreTokenizerInfo> info = gguf_pre_tokenizer(pre);
    if (!info)
      throw Error(path + ": unknown pre-tokenizer '" + pre + "' (" + key("pre") + ")",
                  "this vocabulary's word-splitting rule is not implemented; supported are the llama.cpp names "
                  "such as gpt-2, llama-bpe, qwen2, deepseek-llm, deepseek-coder, falcon, starcoder, tekken");
    const std::vector<std::string>* merges = file.get_string_array(key("merges"));
    if (!merges)
      throw Error(path + ": byte-level BPE vocabulary without merges (" + key("merges") + " is missing)",
                  "re-convert the model with its tokenizer");
    v.special.bos = special_id(file, v, "bos_token_id", -1);
    v.special.eos = special_id(file, v, "eos_token_id", -1);
    v.special.unknown = special_id(file, v, "unknown_token_id", -1);
    add_bos = info->add_bos;
    ByteLevelOptions options;
    options.ignore_merges = info->ignore_merges;
    model = std::make_unique<ByteLevelBpe>(v, PreTokenizer(info->rules), parse_merges(v, *merges), options);
  } else if (*model_name == "bert") {
    kind = TokenizerKind::WordPiece;
    v.special.classifier = special_id(file, v, "cls_token_id", special_id(file, v, "bos_token_id", 101));
    v.special.separator = special_id(file, v, "seperator_token_id", 102);
    v.special.unknown = special_id(file, v, "unknown_token_id", 100);
    v.special.mask = special_id(file, v, "mask_token_id", 103);
    WordPieceOptions options;
    options.normalization.lowercase = file.get_bool(key("normalizer.lowercase")).value_or(true);
    options.normalization.strip_accents =
        file.get_bool(key("normalizer.strip_accents")).value_or(options.normalization.lowercase);
    model = std::make_unique<WordPiece>(v, options);
  } else {
    throw Error(path + ": unsupported tokenizer model '" + *model_name + "' (" + key("model") + ")",
                "supported are llama (SentencePiece BPE), gpt2 (byte-level BPE) and bert (WordPiece)");
  }
  v.special.padding = special_id(file, v, "padding_token_id", -1);
  v.special.eot = special_id(file, v, "eot_token_id", -1);
  v.special.eom = special_id(file, v, "eom_token_id", -1);
  if (kind != TokenizerKind::WordPiece) v.special.mask = special_id(file, v, "mask_token_id", -1);
  add_bos = file.get_bool(key("add_bos_token")).value_or(add_bos);
  add_eos = file.get_bool(key("add_eos_token")).value_or(add_eos);
  v.collect_end_of_generation();

  std::vector<int32_t> prefix, suffix;
  if (kind == TokenizerKind::WordPiece) {
    if (file.get_bool(key("add_bos_token")).value_or(true) && v.special.classifier >= 0) prefix.push_back(v.special.classifier);
    if (file.get_bool(key("add_sep_token")).value_or(true) && v.special.separator >= 0) suffix.push_back(v.special.separator);
  } else {
    if (add_bos && v.special.bos >= 0) prefix.push_back(v.special.bos);
    if (add_eos && v.special.eos >= 0) suffix.push_back(v.special.eos);
  }
  return std::make_unique<Tokenizer>(std::move(vocabulary), std::move(model), kind, std::move(prefix), std::move(suffix));
}

}  // namespace jisu
