// libFuzzer target: a safetensors file, opened and every tensor's bytes read (so that a span
// the reader accepted outside the file would be caught by ASan). Anything but a jisu::Error is
// a finding.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "format/safetensors_file.h"
#include "fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jisu::fuzz::FuzzInputFile input(data, size);
  if (!input.ok()) return 0;
  try {
    const auto file = jisu::safetensors::SafetensorsFile::open(input.path());
    uint64_t sum = 0;
    for (const auto& tensor : file->tensors())
      for (uint64_t i = 0; i < tensor.byte_size; ++i) sum += tensor.data[i];
    if (sum == 0xFFFFFFFFFFFFFFFFull) return 1;  // keeps the reads
  } catch (const jisu::Error&) {
  }
  return 0;
}
