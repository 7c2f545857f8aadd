#pragma once
// Nesting depth of JSON text, found by one linear scan before any parser sees the text.
// nlohmann::json parses deep documents iteratively but copies, compares and walks them
// recursively, so a hostile document nested 300,000 deep crashes the first recursive use; every
// untrusted JSON input (request bodies, tokenizer.json, messages files) is checked here first.
#include <cstddef>
#include <string_view>

namespace jisu {

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count),
// stopping early once it exceeds `limit`. Invalid JSON is scanned all the same: the parser
// reports its own errors afterwards.
size_t json_nesting_depth(std::string_view text, size_t limit);

}  // namespace jisu
