#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace jisu::detail {
void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "jisu internal error: assertion '%s' failed at %s:%d\n", condition, file, line);
  std::abort();
}
}  // namespace jisu::detail
