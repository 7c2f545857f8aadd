#pragma once
// Chooses one option per item (a type per tensor) minimising the summed cost (KL divergence)
// with the summed size (bits) at most a budget: a multiple-choice knapsack, solved exactly by
// dynamic programming over the size:
//  - sizes are counted in units of the greatest common divisor of all options' sizes (quantized
//    tensors' sizes share large factors: rows x block bytes), after subtracting each item's
//    smallest option, so the table has items x (spare units + 1) cells;
//  - when that table would exceed max_cells, the unit grows to fit and each option's size is
//    rounded UP to whole units: the result still fits the budget (a rounded-up sum bounds the
//    true one) and is optimal for the rounded sizes, at most items x unit bits from the exact
//    optimum's budget (tests/unit/test_bit_allocation.cpp checks both against brute force).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace jisu::compress {

struct AllocationOption {
  uint64_t bits = 0;
  double cost = 0;
};

struct Allocation {
  std::vector<size_t> choice;  // per item, an index into its options
  uint64_t bits = 0;
  double cost = 0;
  uint64_t unit_bits = 0;  // the size unit used (the gcd when exact)
  bool exact = false;      // the unit divides every size: the optimum itself
};

inline constexpr size_t kDefaultAllocationCells = size_t{1} << 27;

// nullopt when every item's smallest option together exceeds the budget. Each item needs at
// least one and at most 255 options. Memory: one byte per cell.
std::optional<Allocation> allocate_bits(const std::vector<std::vector<AllocationOption>>& items, uint64_t budget_bits,
                                        size_t max_cells = kDefaultAllocationCells);

}  // namespace jisu::compress
