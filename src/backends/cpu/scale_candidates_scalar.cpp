// The reference of scale_candidate_sums (scale_candidates.h): one candidate at a time.
#include "backends/cpu/scale_candidates.h"

namespace jisu::cpu {

void scale_candidate_sums_scalar(const ScaleCandidates& c) {
  for (size_t k = 0; k < c.count; ++k) {
    double sl = 0, sll = 0, slx = 0;
    for (size_t i = 0; i < c.n; ++i) {
      const double l = nearest_level((c.x[i] - c.offset) * c.inverses[k], c.low, c.high);
      const double wl = static_cast<double>(c.w[i]) * l;
      sl += wl, sll += wl * l, slx += wl * c.x[i];
    }
    if (c.sl) c.sl[k] = sl;
    c.sll[k] = sll, c.slx[k] = slx;
  }
}

}  // namespace jisu::cpu
