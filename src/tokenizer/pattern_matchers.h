#pragma once
// Hand-written equivalents of the pre-tokenizer regexes real vocabularies use (llama.cpp's
// llama-vocab.cpp lists them per `tokenizer.ggml.pre`; Hugging Face tokenizer.json files carry
// them as Split patterns). Each function answers: how long is the regex match that starts
// exactly at `pos`, within the segment [begin, end)? 0 means no match there. The semantics are
// those of a backtracking engine (ordered alternation, greedy quantifiers), which is what
// Oniguruma (Hugging Face) and std::regex (llama.cpp) implement.
#include <cstddef>
#include <cstdint>

namespace jisu::patterns {

using MatchFunction = size_t (*)(const uint32_t* c, size_t begin, size_t pos, size_t end);

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
size_t gpt2(const uint32_t* c, size_t begin, size_t pos, size_t end);
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
size_t llama3(const uint32_t* c, size_t begin, size_t pos, size_t end);
// As llama3 with \p{N} instead of \p{N}{1,3} (Qwen2, StableLM 2).
size_t qwen2(const uint32_t* c, size_t begin, size_t pos, size_t end);
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|
// ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+   (Mistral Tekken)
size_t tekken(const uint32_t* c, size_t begin, size_t pos, size_t end);
// Tekken's case-aware words, each followed by an optional (?i:'s|'t|'re|'ve|'m|'ll|'d), and
// \p{N}{1,3} (GPT-4o / o200k, Llama 4).
size_t gpt4o(const uint32_t* c, size_t begin, size_t pos, size_t end);
//  ?[^(\s|.,!?…。，、।۔،)]+   (BLOOM, Poro, GPT-3 Finnish, Viking)
size_t bloom(const uint32_t* c, size_t begin, size_t pos, size_t end);

size_t one_number(const uint32_t* c, size_t begin, size_t pos, size_t end);          // \p{N}
size_t numbers(const uint32_t* c, size_t begin, size_t pos, size_t end);             // \p{N}+
size_t up_to_three_numbers(const uint32_t* c, size_t begin, size_t pos, size_t end); // \p{N}{1,3}
size_t three_ascii_digits(const uint32_t* c, size_t begin, size_t pos, size_t end);  // [0-9][0-9][0-9]
size_t one_punctuation(const uint32_t* c, size_t begin, size_t pos, size_t end);     // [\p{P}] (ASCII symbols too)
size_t punctuation_run(const uint32_t* c, size_t begin, size_t pos, size_t end);     // [\p{P}\$\+<=>\^~\|]+
size_t punctuation_run_with_backtick(const uint32_t* c, size_t begin, size_t pos, size_t end);  // ... plus `
size_t one_newline(const uint32_t* c, size_t begin, size_t pos, size_t end);         // [\r\n]
size_t trailing_spaces(const uint32_t* c, size_t begin, size_t pos, size_t end);     // \s+$

// DeepSeek pre-tokenizers (LLM, Coder, V3).
size_t space_then_cased_letters(const uint32_t* c, size_t begin, size_t pos, size_t end);  // \s?[A-Za-zµÀ-Ö...]+
size_t space_then_ascii_fullwidth_punctuation(const uint32_t* c, size_t begin, size_t pos,
                                              size_t end);                                  // \s?[!-/:-~！-／：-～‘-‟　-。]+
size_t cjk_and_hangul(const uint32_t* c, size_t begin, size_t pos, size_t end);       // [一-龥ࠀ-一가-퟿]+
size_t cjk_and_kana(const uint32_t* c, size_t begin, size_t pos, size_t end);         // [一-龥぀-ゟ゠-ヿ]+
size_t space_then_letters(const uint32_t* c, size_t begin, size_t pos, size_t end);   // \s?\p{L}+
size_t space_then_punctuation(const uint32_t* c, size_t begin, size_t pos, size_t end);  // \s?\p{P}+
// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//  ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t deepseek_v3_words(const uint32_t* c, size_t begin, size_t pos, size_t end);

}  // namespace jisu::patterns
