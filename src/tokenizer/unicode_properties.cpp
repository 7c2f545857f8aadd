#include "tokenizer/unicode_properties.h"

#include <algorithm>
#include <array>
#include <memory>

namespace jisu::unicode {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr uint32_t kBmpSize = 0x10000;

Category category_from_runs(uint32_t code_point) {
  using tables::kCategoryRuns;
  // Last run whose start is <= code_point (the first run starts at 0).
  const auto* end = kCategoryRuns + tables::kCategoryRunCount;
  const auto* it = std::upper_bound(kCategoryRuns, end, code_point,
                                    [](uint32_t cp, const tables::CategoryRun& run) { return cp < run.first; });
  return (it - 1)->category;
}

// Flat category table for the BMP, where nearly all text lives; built once on first use.
const std::array<Category, kBmpSize>& bmp_categories() {
  static const std::unique_ptr<std::array<Category, kBmpSize>> table = [] {
    auto result = std::make_unique<std::array<Category, kBmpSize>>();
    for (size_t run = 0; run < tables::kCategoryRunCount; ++run) {
      const uint32_t first = tables::kCategoryRuns[run].first;
      if (first >= kBmpSize) break;
      const uint32_t last =
          run + 1 < tables::kCategoryRunCount ? std::min(tables::kCategoryRuns[run + 1].first, kBmpSize) : kBmpSize;
      std::fill(result->begin() + first, result->begin() + last, tables::kCategoryRuns[run].category);
    }
    return result;
  }();
  return *table;
}

bool in(Category c, Category first, Category last) { return c >= first && c <= last; }

// Hangul syllable constants (Unicode chapter 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

void decompose_into(uint32_t code_point, std::vector<uint32_t>& out) {
  if (code_point >= kSBase && code_point < kSBase + kSCount) {
    const uint32_t index = code_point - kSBase;
    out.push_back(kLBase + index / kNCount);
    out.push_back(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount != 0) out.push_back(kTBase + index % kTCount);
    return;
  }
  const auto* begin = tables::kDecompositions;
  const auto* end = begin + tables::kDecompositionCount;
  const auto* it = std::lower_bound(begin, end, code_point,
                                    [](const tables::DecompositionEntry& e, uint32_t cp) { return e.code_point < cp; });
  if (it == end || it->code_point != code_point) {
    out.push_back(code_point);
    return;
  }
  out.insert(out.end(), tables::kDecompositionData + it->offset, tables::kDecompositionData + it->offset + it->length);
}

// 0 when the pair has no primary composite.
uint32_t compose_pair(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  const auto* begin = tables::kCompositions;
  const auto* end = begin + tables::kCompositionCount;
  const auto* it = std::lower_bound(begin, end, std::make_pair(first, second),
                                    [](const tables::CompositionEntry& e, const std::pair<uint32_t, uint32_t>& key) {
                                      return e.first < key.first || (e.first == key.first && e.second < key.second);
                                    });
  return (it != end && it->first == first && it->second == second) ? it->composite : 0;
}

}  // namespace

Category category(uint32_t code_point) {
  if (code_point < kBmpSize) return bmp_categories()[code_point];
  if (code_point > kMaxCodePoint) return Category::Cn;
  return category_from_runs(code_point);
}

bool is_letter(uint32_t cp) { return in(category(cp), Category::Lu, Category::Lo); }
bool is_mark(uint32_t cp) { return in(category(cp), Category::Mn, Category::Me); }
bool is_number(uint32_t cp) { return in(category(cp), Category::Nd, Category::No); }
bool is_punctuation(uint32_t cp) { return in(category(cp), Category::Pc, Category::Po); }
bool is_symbol(uint32_t cp) { return in(category(cp), Category::Sm, Category::So); }
bool is_separator(uint32_t cp) { return in(category(cp), Category::Zs, Category::Zp); }
bool is_other(uint32_t cp) { return in(category(cp), Category::Cc, Category::Cn); }

bool is_whitespace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint32_t to_lower(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* begin = tables::kLowercase;
  const auto* end = begin + tables::kLowercaseCount;
  const auto* it = std::lower_bound(begin, end, cp, [](const tables::CodePointPair& p, uint32_t c) { return p.from < c; });
  return (it != end && it->from == cp) ? it->to : cp;
}

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = tables::kCombiningClasses;
  const auto* end = begin + tables::kCombiningClassCount;
  const auto* it =
      std::upper_bound(begin, end, cp, [](uint32_t c, const tables::CombiningClassRange& r) { return c < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

std::vector<uint32_t> nfd(const std::vector<uint32_t>& code_points) {
  std::vector<uint32_t> out;
  out.reserve(code_points.size());
  for (uint32_t cp : code_points) decompose_into(cp, out);
  // Canonical ordering: stable-sort each run of non-starters by combining class.
  for (size_t i = 0; i < out.size();) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + i, out.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  return out;
}

std::vector<uint32_t> nfc(const std::vector<uint32_t>& code_points) {
  std::vector<uint32_t> d = nfd(code_points);
  if (d.empty()) return d;
  // Canonical composition (UAX #15): combine each character with the last starter unless a
  // character in between blocks it (same or higher combining class, or a starter).
  std::vector<uint32_t> out;
  out.reserve(d.size());
  size_t starter = SIZE_MAX;  // index in `out` of the last starter
  int last_class = -1;        // combining class of the last character appended after it
  for (uint32_t cp : d) {
    const int cc = combining_class(cp);
    if (starter != SIZE_MAX) {
      const bool blocked = last_class != -1 && (last_class >= cc || last_class == 0);
      if (!blocked) {
        if (const uint32_t composite = compose_pair(out[starter], cp)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    out.push_back(cp);
    if (cc == 0) {
      starter = out.size() - 1;
      last_class = -1;
    } else {
      last_class = cc;
    }
  }
  return out;
}

}  // namespace jisu::unicode
