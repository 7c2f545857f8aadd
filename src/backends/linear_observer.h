#pragma once
// Something that wants to see the input rows of every linear layer (y = W x), e.g. the
// importance-matrix collector (diagonal of XᵀX per weight). A backend that has one set calls it
// in linear() before the product; with none set, linear() pays one pointer test.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jisu {

class LinearObserver {
 public:
  virtual ~LinearObserver() = default;
  // `weight_name`: the file tensor's name; `slice`: the expert index of a stacked tensor, else 0.
  // x: n_rows rows of `cols` floats, `stride` floats apart, in host memory, valid during the call.
  // Calls come from the thread that runs the step, never concurrently.
  virtual void observe(std::string_view weight_name, int64_t slice, const float* x, size_t stride, size_t n_rows,
                       size_t cols) = 0;
};

}  // namespace jisu
