// Tokenizer::from_hf_json: builds a tokenizer from a Hugging Face tokenizer.json (models BPE and
// WordPiece). BOS/EOS come from a tokenizer_config.json next to it when present, else from the
// post-processor template and well-known token texts.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <jisu/json_nesting.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/hf_text_pipeline.h"
#include "tokenizer/hf_tokenizer_parts.h"
#include "tokenizer/nfc_normalized_model.h"
#include "tokenizer/sentencepiece_bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocabulary.h"
#include "tokenizer/wordpiece.h"

namespace jisu {
namespace {

using json = nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path, "check the path to tokenizer.json");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  // Real files nest a few levels (a Sequence of normalizers); nlohmann copies and walks
  // documents recursively, so a normalizer nested 200,000 deep must not get that far.
  constexpr size_t kMaxDepth = 64;
  if (json_nesting_depth(text, kMaxDepth) > kMaxDepth)
    throw Error(path + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels",
                "the file is not a tokenizer.json");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what(), "the file is truncated or not a tokenizer.json");
  }
}

// A token id as written: an integer, not a float (4.3e57 converted to int64 is undefined
// behaviour, found by fuzz_tokenizer_json).
int64_t token_id_value(const json& value, const std::string& path) {
  if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX))
    throw Error(path + ": token id " + value.dump() + " is not an integer id");
  return value.get<int64_t>();
}

bool is_byte_token_text(const std::string& text) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return text.size() == 6 && text.compare(0, 3, "<0x") == 0 && hex(text[3]) && hex(text[4]) && text[5] == '>';
}

// Vocabulary entries plus added tokens, by id. Ids not covered are empty placeholders.
std::unique_ptr<Vocabulary> build_vocabulary(const json& root, bool byte_fallback, const std::string& path) {
  const json& vocab = root.at("model").at("vocab");
  if (!vocab.is_object()) throw Error(path + ": model.vocab is not an object", "only BPE and WordPiece models are supported");
  std::vector<std::string> texts;
  std::vector<TokenType> types;
  std::vector<std::pair<bool, bool>> strips;
  // Ids are dense: none can reach past the number of entries (one huge id in a 60-byte file
  // would otherwise size the tables for it).
  const size_t n_entries = vocab.size() + (root.contains("added_tokens") ? root["added_tokens"].size() : 0);
  auto place = [&](int64_t id, const std::string& text, TokenType type) {
    if (id < 0 || static_cast<uint64_t>(id) >= n_entries)
      throw Error(path + ": token id " + std::to_string(id) + " is out of range: the file has " +
                  std::to_string(n_entries) + " tokens");
    if (static_cast<size_t>(id) >= texts.size()) {
      texts.resize(static_cast<size_t>(id) + 1);
      types.resize(static_cast<size_t>(id) + 1, TokenType::Undefined);
      strips.resize(static_cast<size_t>(id) + 1);
    }
    texts[static_cast<size_t>(id)] = text;
    types[static_cast<size_t>(id)] = type;
  };
  for (const auto& [text, id] : vocab.items())
    place(token_id_value(id, path), text, byte_fallback && is_byte_token_text(text) ? TokenType::Byte : TokenType::Normal);
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const json& added : root["added_tokens"]) {
      const int64_t id = token_id_value(added.at("id"), path);
      place(id, added.at("content").get<std::string>(),
            added.value("special", false) ? TokenType::Control : TokenType::UserDefined);
      strips[static_cast<size_t>(id)] = {added.value("lstrip", false), added.value("rstrip", false)};
    }
  }
  auto vocabulary = std::make_unique<Vocabulary>();
  for (size_t id = 0; id < texts.size(); ++id) {
    vocabulary->add(texts[id], 0.0f, types[id]);
    vocabulary->entry(static_cast<int32_t>(id)).lstrip = strips[id].first;
    vocabulary->entry(static_cast<int32_t>(id)).rstrip = strips[id].second;
  }
  vocabulary->finalize(path);
  return vocabulary;
}

MergeTable read_merges(const json& model, const Vocabulary& vocabulary) {
  MergeTable table;
  if (!model.contains("merges")) return table;
  const json& merges = model["merges"];
  table.reserve(merges.size());
  int32_t rank = 0;
  for (const json& merge : merges) {
    if (merge.is_array() && merge.size() == 2) {  // newer format: ["left", "right"]
      add_merge(vocabulary, table, merge[0].get<std::string>(), merge[1].get<std::string>(), rank);
    } else if (merge.is_string()) {  // "left right"
      const std::string rule = merge.get<std::string>();
      const size_t space = rule.find(' ', 1);
      if (space != std::string::npos)
        add_merge(vocabulary, table, std::string_view(rule).substr(0, space), std::string_view(rule).substr(space + 1),
                  rank);
    }
    ++rank;
  }
  return table;
}

// tokenizer_config.json stores special tokens as a string or as {"content": ...}.
std::optional<std::string> config_token(const json& config, const char* name) {
  if (!config.contains(name)) return std::nullopt;
  const json& value = config[name];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content")) return value["content"].get<std::string>();
  return std::nullopt;
}

int32_t first_present(const Vocabulary& vocabulary, std::initializer_list<const char*> texts) {
  for (const char* text : texts)
    if (const int32_t id = vocabulary.find(text); id >= 0) return id;
  return -1;
}

// The special tokens a TemplateProcessing post-processor puts around a single sequence.
void read_template(const json& processor, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix,
                   const Vocabulary& vocabulary) {
  if (!processor.is_object()) return;
  const std::string type = processor.value("type", std::string());
  if (type == "Sequence") {
    for (const json& part : processor.at("processors")) read_template(part, prefix, suffix, vocabulary);
    return;
  }
  const auto checked = [&](const json& id) {
    const int64_t value = token_id_value(id, "post_processor");
    if (value < 0 || value >= vocabulary.size())
      throw Error("post_processor token id " + std::to_string(value) + " is outside the vocabulary of " +
                  std::to_string(vocabulary.size()) + " tokens");
    return static_cast<int32_t>(value);
  };
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    prefix.push_back(checked(processor.at("cls").at(1)));
    suffix.push_back(checked(processor.at("sep").at(1)));
    return;
  }
  if (type != "TemplateProcessing") return;
  bool after_sequence = false;
  for (const json& item : processor.at("single")) {
    if (item.contains("Sequence")) {
      after_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = item["SpecialToken"].at("id").get<std::string>();
      std::vector<int32_t> ids;
      const json& table = processor.value("special_tokens", json::object());
      if (table.contains(name)) {
        for (const json& id : table[name].at("ids")) ids.push_back(checked(id));
      } else if (const int32_t id = vocabulary.find(name); id >= 0) {
        ids.push_back(id);
      }
      (after_sequence ? suffix : prefix).insert((after_sequence ? suffix : prefix).end(), ids.begin(), ids.end());
    }
  }
}

}  // namespace

HfTokenizerParts read_hf_tokenizer(const std::string& path) {
  HfTokenizerParts parts;
  parts.path = path;
  parts.root = read_json(path);
  const json& root = parts.root;
  try {
    const json& model_node = root.at("model");
    parts.model_type = model_node.value("type", std::string(model_node.contains("merges") ? "BPE" : ""));
    if (parts.model_type != "BPE" && parts.model_type != "WordPiece")
      throw Error(path + ": unsupported tokenizer model '" + parts.model_type + "'", "supported are BPE and WordPiece");
    const bool byte_fallback = model_node.value("byte_fallback", false);
    parts.pipeline = read_hf_text_pipeline(root.value("normalizer", json()), root.value("pre_tokenizer", json()), path);
    parts.vocabulary = build_vocabulary(root, byte_fallback, path);
    Vocabulary& v = *parts.vocabulary;

    // Special tokens: tokenizer_config.json if it sits next to the file, else well-known texts.
    const std::filesystem::path config_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) parts.config = read_json(config_path.string());
    const json& config = parts.config;
    auto configured = [&](const char* name, std::initializer_list<const char*> fallback) {
      if (const auto text = config_token(config, name)) return v.find(*text);
      return first_present(v, fallback);
    };
    if (model_node.contains("unk_token") && model_node["unk_token"].is_string())
      v.special.unknown = v.find(model_node["unk_token"].get<std::string>());
    v.special.bos = configured("bos_token", {"<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>",
                                             "<\xEF\xBD\x9C" "begin\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"});
    v.special.eos = configured("eos_token", {"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "<|im_end|>",
                                             "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"});
    v.special.padding = configured("pad_token", {});
    if (parts.model_type == "WordPiece") {
      v.special.classifier = v.find("[CLS]");
      v.special.separator = v.find("[SEP]");
    }
    v.collect_end_of_generation();

    read_template(root.value("post_processor", json()), parts.prefix, parts.suffix, v);
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
      parts.prefix.clear();
      if (config["add_bos_token"].get<bool>() && v.special.bos >= 0) parts.prefix.push_back(v.special.bos);
    }
    if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
      parts.suffix.clear();
      if (config["add_eos_token"].get<bool>() && v.special.eos >= 0) parts.suffix.push_back(v.special.eos);
    }
    if (parts.model_type == "BPE" && !parts.pipeline.byte_level && !parts.pipeline.rules.empty())
      throw Error(path + ": Split/Digits pre-tokenizers need a ByteLevel pre-tokenizer",
                  "only byte-level and SentencePiece-style BPE are supported");
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected tokenizer.json structure: " + e.what(), "the file may come from an unsupported version");
  }
  return parts;
}

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(const std::string& path) {
  HfTokenizerParts parts = read_hf_tokenizer(path);
  try {
    const json& model_node = parts.root.at("model");
    const HfTextPipeline& pipeline = parts.pipeline;
    Vocabulary& v = *parts.vocabulary;
    std::unique_ptr<TokenizerModel> model;
    TokenizerKind kind;
    if (parts.model_type == "WordPiece") {
      kind = TokenizerKind::WordPiece;
      WordPieceOptions options;
      options.normalization = pipeline.bert_normalization;
      options.word_start_prefix.clear();
      options.continuation_prefix = model_node.value("continuing_subword_prefix", std::string("##"));
      options.max_word_chars = model_node.value("max_input_chars_per_word", size_t{100});
      model = std::make_unique<WordPiece>(v, options);
    } else if (pipeline.byte_level) {
      kind = TokenizerKind::ByteLevelBpe;
      ByteLevelOptions options;
      options.ignore_merges = model_node.value("ignore_merges", false);
      options.add_prefix_space = pipeline.add_prefix_space;
      model = std::make_unique<ByteLevelBpe>(v, PreTokenizer(pipeline.rules), read_merges(model_node, v), options);
    } else {
      kind = TokenizerKind::SentencePieceBpe;
      SentencePieceOptions options;
      options.merge_order = SentencePieceOptions::MergeOrder::MergeRank;
      options.dummy_prefix = pipeline.dummy_prefix;
      options.escape_whitespace = pipeline.metaspace;
      options.ignore_merges = model_node.value("ignore_merges", false);
      options.fuse_unknown = model_node.value("fuse_unk", false);
      model = std::make_unique<SentencePieceBpe>(v, options, read_merges(model_node, v));
    }
    if (pipeline.nfc) model = std::make_unique<NfcNormalizedModel>(std::move(model));
    return std::make_unique<Tokenizer>(std::move(parts.vocabulary), std::move(model), kind, std::move(parts.prefix),
                                       std::move(parts.suffix));
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected tokenizer.json structure: " + e.what(), "the file may come from an unsupported version");
  }
}

}  // namespace jisu
