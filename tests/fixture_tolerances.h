#pragma once
// What the fixtures README's bounds (../shared/fixtures/README.md) need beyond the relative L2
// error of test_support.h: which bound a model's logits get, and top-1 agreement.
#include <algorithm>
#include <vector>

#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "models/model.h"

namespace jisu::test {

// True when a linear weight of the model takes the CPU's integer dot-product path (activations
// quantized to 8 bits per token, backends/cpu/int8_matmul.h and int8_super_block_matmul.h): its
// CPU logits get the README's limit for quantized activations, 3e-2.
inline bool takes_int8_activations_on_cpu(const Model& model) {
  for (const auto& tensor : model.file().tensors())
    if (tensor.shape.size() == 2 &&
        (cpu::takes_int8_activations(tensor.type) || cpu::takes_int8_super_blocks(tensor.type)))
      return true;
  return false;
}

// The fraction of rows of b (n_vocab logits each) whose largest logit is at the same index in a.
inline double top1_agreement(const std::vector<float>& a, const std::vector<float>& b, size_t n_vocab) {
  const size_t rows = b.size() / n_vocab;
  size_t agree = 0;
  for (size_t r = 0; r < rows; ++r) {
    const auto begin_a = a.begin() + static_cast<long>(r * n_vocab), begin_b = b.begin() + static_cast<long>(r * n_vocab);
    agree += std::max_element(begin_a, begin_a + static_cast<long>(n_vocab)) - begin_a ==
             std::max_element(begin_b, begin_b + static_cast<long>(n_vocab)) - begin_b;
  }
  return rows ? double(agree) / double(rows) : 1.0;
}

}  // namespace jisu::test
