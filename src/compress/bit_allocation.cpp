#include "compress/bit_allocation.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace jisu::compress {

std::optional<Allocation> allocate_bits(const std::vector<std::vector<AllocationOption>>& items, uint64_t budget_bits,
                                        size_t max_cells) {
  // Each item's smallest option is the floor; the table spans only the spare bits above the floors.
  std::vector<uint64_t> floor_bits(items.size());
  uint64_t floors = 0, unit = 0;
  for (size_t item = 0; item < items.size(); ++item) {
    if (items[item].empty() || items[item].size() > 255)
      throw Error("internal: an allocation item needs 1 to 255 options");
    floor_bits[item] = std::min_element(items[item].begin(), items[item].end(), [](const auto& a, const auto& b) {
                         return a.bits < b.bits;
                       })->bits;
    floors += floor_bits[item];
    for (const AllocationOption& option : items[item]) unit = std::gcd(unit, option.bits - floor_bits[item]);
  }
  if (floors > budget_bits) return std::nullopt;
  const uint64_t spare_bits = budget_bits - floors;
  Allocation result;
  result.exact = true;
  if (unit == 0) unit = 1;  // every item has one size only
  const size_t per_item = std::max<size_t>(2, max_cells / std::max<size_t>(1, items.size()));
  if (spare_bits / unit + 1 > per_item) {
    unit = spare_bits / (per_item - 1) + 1;  // spare_bits / unit < per_item - 1
    result.exact = false;
  }
  result.unit_bits = unit;
  const size_t columns = static_cast<size_t>(spare_bits / unit) + 1;
  // best[b]: the least cost of the items so far with at most b spare units.
  std::vector<double> best(columns, 0.0), next(columns);
  std::vector<uint8_t> choice(items.size() * columns);
  constexpr double kNone = std::numeric_limits<double>::infinity();
  for (size_t item = 0; item < items.size(); ++item) {
    std::fill(next.begin(), next.end(), kNone);
    uint8_t* item_choice = choice.data() + item * columns;
    for (size_t option = 0; option < items[item].size(); ++option) {
      const AllocationOption& o = items[item][option];
      const uint64_t extra = o.bits - floor_bits[item];
      const uint64_t units = result.exact ? extra / unit : (extra + unit - 1) / unit;
      if (units >= columns) continue;
      for (size_t b = static_cast<size_t>(units); b < columns; ++b) {
        const double cost = best[b - units] + o.cost;
        if (cost < next[b]) {
          next[b] = cost;
          item_choice[b] = static_cast<uint8_t>(option);
        }
      }
    }
    best.swap(next);
  }
  // Walk back from the full budget.
  result.choice.resize(items.size());
  size_t b = columns - 1;
  for (size_t item = items.size(); item-- > 0;) {
    const size_t option = choice[item * columns + b];
    result.choice[item] = option;
    const AllocationOption& o = items[item][option];
    const uint64_t extra = o.bits - floor_bits[item];
    b -= static_cast<size_t>(result.exact ? extra / unit : (extra + unit - 1) / unit);
    result.bits += o.bits;
    result.cost += o.cost;
  }
  return result;
}

}  // namespace jisu::compress
