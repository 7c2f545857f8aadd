// Which hand-written rules stand for which pre-tokenizer: by GGUF `tokenizer.ggml.pre` name (the
// same grouping as llama.cpp's llama-vocab.cpp) and by Hugging Face Split regex text.
#include <initializer_list>
#include <utility>

#include "tokenizer/pre_tokenizer.h"

namespace jisu {
namespace {

using namespace patterns;

bool is_one_of(std::string_view value, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names)
    if (value == name) return true;
  return false;
}

}  // namespace

std::optional<GgufPreTokenizerInfo> gguf_pre_tokenizer(std::string_view pre) {
  // `default` and a missing key mean GPT-2's rule: that is what the byte-level BPE vocabularies
  // converted without a pre-tokenizer name (GPT-2, GPT-NeoX) were trained with.
  if (is_one_of(pre, {"", "default", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
                      "jina-v2-de", "jina-v2-code", "roberta-bpe", "a.x-4.0", "mellum", "modern-bert", "exaone4",
                      "mpt", "olmo", "jais", "trillion", "granite-docling"}))
    return GgufPreTokenizerInfo{{gpt2}};
  if (is_one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}))
    return GgufPreTokenizerInfo{{llama3}, /*ignore_merges=*/true, /*add_bos=*/true};
  if (is_one_of(pre, {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) return GgufPreTokenizerInfo{{llama3}};
  if (is_one_of(pre, {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan",
                      "solar-open", "grok-2"}))
    return GgufPreTokenizerInfo{{qwen2}};
  if (pre == "deepseek-llm")
    return GgufPreTokenizerInfo{{one_newline, space_then_cased_letters, space_then_ascii_fullwidth_punctuation,
                                 trailing_spaces, cjk_and_hangul, numbers}};
  if (pre == "deepseek-coder")
    return GgufPreTokenizerInfo{{one_newline, space_then_letters, space_then_punctuation, cjk_and_hangul, one_number}};
  if (is_one_of(pre, {"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"}))
    return GgufPreTokenizerInfo{{up_to_three_numbers, cjk_and_kana, deepseek_v3_words}};
  if (pre == "falcon") return GgufPreTokenizerInfo{{punctuation_run_with_backtick, gpt2, three_ascii_digits}};
  if (is_one_of(pre, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"}))
    return GgufPreTokenizerInfo{{one_number, gpt2}};
  if (is_one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) return GgufPreTokenizerInfo{{bloom}};
  if (pre == "viking") return GgufPreTokenizerInfo{{bloom, one_number}};
  if (pre == "tekken") return GgufPreTokenizerInfo{{tekken}, /*ignore_merges=*/true, /*add_bos=*/true};
  if (is_one_of(pre, {"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"})) return GgufPreTokenizerInfo{{gpt4o}};
  return std::nullopt;
}

std::optional<MatchFunction> rule_for_regex(std::string_view pattern) {
  static const std::pair<std::string_view, MatchFunction> kKnown[] = {
      {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))", gpt2},
      {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", gpt2},
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       llama3},
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       qwen2},
      {R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       tekken},
      {R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       gpt4o},
      {R"(\p{N})", one_number},
      {R"(\p{N}+)", numbers},
      {R"(\p{N}{1,3})", up_to_three_numbers},
      {R"(\d{1,3})", up_to_three_numbers},
      {R"([0-9][0-9][0-9])", three_ascii_digits},
      {R"(\s+$)", trailing_spaces},
      {"[\r\n]", one_newline},
      {R"([\r\n])", one_newline},
      {R"(\s?\p{L}+)", space_then_letters},
      {R"(\s?\p{P}+)", space_then_punctuation},
      {"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", cjk_and_hangul},
      {"[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+", cjk_and_kana},
      {" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+", bloom},
  };
  for (const auto& [text, rule] : kKnown)
    if (pattern == text) return rule;
  return std::nullopt;
}

}  // namespace jisu
