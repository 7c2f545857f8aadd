// libFuzzer target: a SentencePiece ModelProto (tokenizer.model), loaded and used to encode and
// decode a fixed text. Anything but a jisu::Error is a finding.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz_input_file.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jisu::fuzz::FuzzInputFile input(data, size);
  if (!input.ok()) return 0;
  try {
    const auto tokenizer = jisu::Tokenizer::from_sentencepiece_model(input.path());
    const auto ids = tokenizer->encode("Hello, world! </s> 123 \u00e9t\u00e9", true, true);
    (void)tokenizer->decode(ids);
  } catch (const jisu::Error&) {
  }
  return 0;
}
