#pragma once
// Raw Unicode data tables, generated into unicode_tables.cpp by
// tests/tools/tokenizer_make_unicode_tables.py. Use unicode_properties.h to query them.
#include <cstddef>
#include <cstdint>

namespace jisu::unicode {

// Unicode general categories (two-letter names as in UnicodeData.txt).
enum class Category : uint8_t {
  Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No,
  Pc, Pd, Ps, Pe, Pi, Pf, Po, Sm, Sc, Sk, So,
  Zs, Zl, Zp, Cc, Cf, Cs, Co, Cn,
};

namespace tables {

struct CategoryRun {
  uint32_t first;
  Category category;
};
struct CodePointPair {
  uint32_t from;
  uint32_t to;
};
struct DecompositionEntry {
  uint32_t code_point;
  uint32_t offset;  // into kDecompositionData
  uint32_t length;
};
struct CombiningClassRange {
  uint32_t first;
  uint32_t last;
  uint8_t combining_class;
};
struct CompositionEntry {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};

extern const char kUnicodeVersion[];
extern const CategoryRun kCategoryRuns[];
extern const size_t kCategoryRunCount;
extern const CodePointPair kLowercase[];
extern const size_t kLowercaseCount;
extern const DecompositionEntry kDecompositions[];
extern const size_t kDecompositionCount;
extern const uint32_t kDecompositionData[];
extern const CombiningClassRange kCombiningClasses[];
extern const size_t kCombiningClassCount;
extern const CompositionEntry kCompositions[];
extern const size_t kCompositionCount;

}  // namespace tables
}  // namespace jisu::unicode
