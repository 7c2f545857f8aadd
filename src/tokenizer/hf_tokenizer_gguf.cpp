#include "tokenizer/hf_tokenizer_gguf.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "format/gguf_writer.h"
#include "tokenizer/hf_tokenizer_parts.h"
#include "tokenizer/pre_tokenizer.h"

namespace jisu {
namespace {

using json = nlohmann::json;
using gguf::ValueType;

// llama.cpp pre-tokenizer names, one per distinct rule set (gguf_pre_tokenizer groups the
// aliases); the first whose rules and ignore_merges equal the file's is written.
constexpr const char* kPreTokenizerNames[] = {
    "gpt-2", "llama-bpe", "dbrx", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
    "starcoder", "bloom", "viking", "tekken", "gpt-4o"};

std::string pre_tokenizer_name(const HfTokenizerParts& parts, bool ignore_merges) {
  for (const char* name : kPreTokenizerNames) {
    const auto info = gguf_pre_tokenizer(name);
    if (info && info->rules == parts.pipeline.rules && info->ignore_merges == ignore_merges) return name;
  }
  throw Error(parts.path + ": its pre-tokenizer has no llama.cpp name", "the GGUF could not say how to split words");
}

// Merge rules as GGUF writes them: "left right".
std::vector<std::string> merge_strings(const json& model) {
  std::vector<std::string> merges;
  if (!model.contains("merges") || !model["merges"].is_array()) return merges;
  merges.reserve(model["merges"].size());
  for (const json& merge : model["merges"]) {
    if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
      merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    else if (merge.is_string())
      merges.push_back(merge.get<std::string>());
    else
      throw Error("tokenizer.json: merge " + merge.dump().substr(0, 80) + " is neither \"a b\" nor [\"a\", \"b\"]");
  }
  return merges;
}

// SentencePiece-style BPE merges by rank; a GGUF "llama" vocabulary merges by the score of the
// merged piece. -rank of the first merge making a token keeps the same order; tokens no merge
// makes score below every merge.
std::vector<double> scores_from_merge_ranks(const Vocabulary& vocabulary, const std::vector<std::string>& merges) {
  const double unmerged = -static_cast<double>(merges.size()) - 1;
  std::vector<double> scores(static_cast<size_t>(vocabulary.size()), unmerged);
  std::vector<bool> made(scores.size(), false);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& rule = merges[rank];
    const size_t space = rule.find(' ', 1);
    if (space == std::string::npos) continue;
    const int32_t id = vocabulary.find(rule.substr(0, space) + rule.substr(space + 1));
    if (id >= 0 && !made[static_cast<size_t>(id)]) {
      made[static_cast<size_t>(id)] = true;
      scores[static_cast<size_t>(id)] = -static_cast<double>(rank);
    }
  }
  for (int32_t id = 0; id < vocabulary.size(); ++id)
    if (vocabulary.type(id) != TokenType::Normal) scores[static_cast<size_t>(id)] = 0;
  return scores;
}

// tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} (the one
// named "default", else the first); newer folders keep it in chat_template.jinja instead.
std::optional<std::string> chat_template(const HfTokenizerParts& parts) {
  const json& config = parts.config;
  if (config.is_object() && config.contains("chat_template")) {
    const json& value = config["chat_template"];
    if (value.is_string()) return value.get<std::string>();
    if (value.is_array()) {
      for (const json& item : value)
        if (item.is_object() && item.value("name", std::string()) == "default" && item.contains("template") &&
            item["template"].is_string())
          return item["template"].get<std::string>();
      if (!value.empty() && value[0].is_object() && value[0].contains("template") && value[0]["template"].is_string())
        return value[0]["template"].get<std::string>();
    }
  }
  const std::filesystem::path jinja = std::filesystem::path(parts.path).parent_path() / "chat_template.jinja";
  if (std::filesystem::is_regular_file(jinja)) {
    constexpr uintmax_t kMaxTemplateBytes = 1 << 20;
    if (std::filesystem::file_size(jinja) > kMaxTemplateBytes)
      throw Error(jinja.string() + " is larger than " + std::to_string(kMaxTemplateBytes) + " bytes");
    std::ifstream in(jinja, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::pair<std::string, gguf::MetadataValue>> gguf_tokenizer_metadata(const std::string& tokenizer_json) {
  const HfTokenizerParts parts = read_hf_tokenizer(tokenizer_json);
  const Vocabulary& v = *parts.vocabulary;
  std::vector<std::pair<std::string, gguf::MetadataValue>> out;
  auto set = [&](const std::string& name, gguf::MetadataValue value) { out.emplace_back("tokenizer.ggml." + name, std::move(value)); };
  auto set_id = [&](const char* name, int32_t id) {
    if (id >= 0) set(name, gguf::make_integer(ValueType::UINT32, id));
  };
  auto set_flag = [&](const char* name, bool value) { set(name, gguf::make_integer(ValueType::BOOL, value ? 1 : 0)); };

  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  for (int32_t id = 0; id < v.size(); ++id) {
    tokens.push_back(v.text(id));
    // The unknown token is an added "special" token in tokenizer.json; GGUF types it UNKNOWN.
    types.push_back(static_cast<int64_t>(id == v.special.unknown ? TokenType::Unknown : v.type(id)));
  }
  try {
    const json& model = parts.root.at("model");
    const bool add_bos = !parts.prefix.empty() && parts.prefix.front() == v.special.bos;
    const bool add_eos = !parts.suffix.empty() && parts.suffix.back() == v.special.eos;
    if (parts.model_type == "WordPiece") {
      set("model", gguf::make_string("bert"));
      set("tokens", gguf::make_string_array(std::move(tokens)));
      set("token_type", gguf::make_int_array(ValueType::INT32, std::move(types)));
      set_id("unknown_token_id", v.special.unknown);
      set_id("cls_token_id", v.special.classifier);
      set_id("seperator_token_id", v.special.separator);  // sic: llama.cpp's spelling
      set_id("mask_token_id", v.find("[MASK]"));
      set_id("padding_token_id", v.special.padding);
      set_flag("normalizer.lowercase", parts.pipeline.bert_normalization.lowercase);
    } else if (parts.pipeline.byte_level) {
      set("model", gguf::make_string("gpt2"));
      set("pre", gguf::make_string(pre_tokenizer_name(parts, model.value("ignore_merges", false))));
      set("tokens", gguf::make_string_array(std::move(tokens)));
      set("token_type", gguf::make_int_array(ValueType::INT32, std::move(types)));
      set("merges", gguf::make_string_array(merge_strings(model)));
    } else {
      const std::vector<std::string> merges = merge_strings(model);
      set("model", gguf::make_string("llama"));
      set("pre", gguf::make_string("default"));
      set("tokens", gguf::make_string_array(std::move(tokens)));
      set("scores", gguf::make_float_array(ValueType::FLOAT32, scores_from_merge_ranks(v, merges)));
      set("token_type", gguf::make_int_array(ValueType::INT32, std::move(types)));
      set_flag("add_space_prefix", parts.pipeline.dummy_prefix != SentencePieceOptions::DummyPrefix::Never);
    }
    if (parts.model_type != "WordPiece") {
      set_id("bos_token_id", v.special.bos);
      set_id("eos_token_id", v.special.eos);
      set_id("unknown_token_id", v.special.unknown);
      set_id("padding_token_id", v.special.padding);
      set_flag("add_bos_token", add_bos);
      set_flag("add_eos_token", add_eos);
    }
    if (const auto text = chat_template(parts)) out.emplace_back("tokenizer.chat_template", gguf::make_string(*text));
  } catch (const json::exception& e) {
    throw Error(tokenizer_json + ": unexpected tokenizer.json structure: " + e.what());
  }
  return out;
}

}  // namespace jisu
