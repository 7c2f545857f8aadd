#pragma once
#include <cstddef>

namespace jisu {

// Bytes [begin, end) of a text.
struct TextRange {
  size_t begin = 0;
  size_t end = 0;
};

}  // namespace jisu
