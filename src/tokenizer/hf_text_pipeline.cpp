#include "tokenizer/hf_text_pipeline.h"

#include "core/error.h"
#include "tokenizer/pre_tokenizer.h"

namespace jisu {
namespace {

constexpr const char* kMetaspace = "\xE2\x96\x81";

using json = nlohmann::json;

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  throw Error(path + ": unsupported " + what,
              "this tokenizer.json uses a component the engine does not implement; use the model's GGUF file");
}

std::string type_of(const json& node) { return node.is_object() ? node.value("type", std::string()) : std::string(); }

void read_normalizer(const json& node, HfTextPipeline& out, const std::string& path) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (type == "Sequence") {
    for (const json& part : node.at("normalizers")) read_normalizer(part, out, path);
  } else if (type == "NFC") {
    out.nfc = true;
  } else if (type == "Prepend" && node.value("prepend", std::string()) == kMetaspace) {
    out.dummy_prefix = SentencePieceOptions::DummyPrefix::EveryFragment;
  } else if (type == "Replace" && node.value("content", std::string()) == kMetaspace &&
             node.contains("pattern") && node["pattern"].value("String", std::string()) == " ") {
    out.metaspace = true;
  } else if (type == "BertNormalizer") {
    out.bert = true;
    out.bert_normalization.lowercase = node.value("lowercase", true);
    const json& strip = node.contains("strip_accents") ? node["strip_accents"] : json();
    out.bert_normalization.strip_accents = strip.is_boolean() ? strip.get<bool>() : out.bert_normalization.lowercase;
  } else {
    unsupported(path, "normalizer '" + type + "'");
  }
}

void read_pre_tokenizer(const json& node, HfTextPipeline& out, const std::string& path) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (type == "Sequence") {
    for (const json& part : node.at("pretokenizers")) read_pre_tokenizer(part, out, path);
  } else if (type == "ByteLevel") {
    out.byte_level = true;
    out.add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) out.rules.push_back(patterns::gpt2);
  } else if (type == "Split") {
    const json& pattern = node.at("pattern");
    const std::string behavior = node.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated" || node.value("invert", false))
      unsupported(path, "Split behavior '" + behavior + "'" + (node.value("invert", false) ? " (inverted)" : ""));
    const std::string text = pattern.contains("Regex") ? pattern["Regex"].get<std::string>()
                                                       : pattern.value("String", std::string());
    const auto rule = rule_for_regex(text);
    if (!rule) unsupported(path, "Split pattern '" + text + "'");
    out.rules.push_back(*rule);
  } else if (type == "Digits") {
    out.rules.push_back(node.value("individual_digits", false) ? patterns::one_number : patterns::numbers);
  } else if (type == "Punctuation") {
    const std::string behavior = node.value("behavior", std::string("Isolated"));
    if (behavior == "Isolated")
      out.rules.push_back(patterns::one_punctuation);
    else if (behavior == "Contiguous")
      out.rules.push_back(patterns::punctuation_run_with_backtick);
    else
      unsupported(path, "Punctuation behavior '" + behavior + "'");
  } else if (type == "Metaspace") {
    if (node.value("replacement", std::string(kMetaspace)) != kMetaspace) unsupported(path, "Metaspace replacement");
    if (node.value("split", true)) unsupported(path, "Metaspace with split=true");
    out.metaspace = true;
    const std::string scheme =
        node.value("prepend_scheme", node.value("add_prefix_space", true) ? std::string("always") : std::string("never"));
    out.dummy_prefix = scheme == "always"  ? SentencePieceOptions::DummyPrefix::EveryFragment
                       : scheme == "first" ? SentencePieceOptions::DummyPrefix::InputStart
                                           : SentencePieceOptions::DummyPrefix::Never;
  } else if (type == "BertPreTokenizer") {
    out.bert = true;
  } else {
    unsupported(path, "pre-tokenizer '" + type + "'");
  }
}

}  // namespace

HfTextPipeline read_hf_text_pipeline(const json& normalizer, const json& pre_tokenizer, const std::string& path) {
  HfTextPipeline pipeline;
  read_normalizer(normalizer, pipeline, path);
  read_pre_tokenizer(pre_tokenizer, pipeline, path);
  return pipeline;
}

}  // namespace jisu
