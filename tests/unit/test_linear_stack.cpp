// Backend::prepare_linear_stack on the CPU: matrices that read one input (q, k, v; gate, up)
// run as one weight give bitwise the outputs of the parts run one by one, for every repackable
// type, on decode and prompt batches; an importance-matrix observer still sees each part by
// name; parts that cannot share one repacked copy are left apart (null).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/linear_observer.h"
#include "int8_test_data.h"

namespace jisu::cpu {
namespace {

struct SeenNames final : LinearObserver {
  std::vector<std::string> names;
  void observe(std::string_view weight_name, int64_t, const float*, size_t, size_t, size_t) override {
    names.emplace_back(weight_name);
  }
};

struct Part {
  std::string name;
  std::vector<uint8_t> data;
  WeightMatrix matrix;
};

Part make_part(const std::string& name, DType type, size_t rows, size_t cols, std::mt19937& rng) {
  Part part{name, random_weights(type, rows, cols, rng), {}};
  part.matrix.name = name;
  part.matrix.type = type;
  part.matrix.rows = int64_t(rows);
  part.matrix.cols = int64_t(cols);
  part.matrix.row_bytes = row_bytes(type, cols);
  part.matrix.data = part.data.data();
  return part;
}

TransformerShape small_shape() {
  TransformerShape shape;
  shape.n_embd = 256;
  shape.n_head = 4;
  shape.n_head_kv = 2;
  shape.head_dim = 64;
  shape.n_ff = 512;
  shape.n_vocab = 512;
  return shape;
}

TEST(LinearStack, StackedPartsGiveBitwiseTheirOwnOutputs) {
  constexpr size_t kCols = 512, kMaxTokens = 40;
  const size_t part_rows[] = {48, 16, 32};
  const size_t total_rows = 48 + 16 + 32;
  ThreadPool pool(2);
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(type));
    std::mt19937 rng(7);
    std::vector<Part> parts;
    for (size_t p = 0; p < 3; ++p) parts.push_back(make_part("part" + std::to_string(p), type, part_rows[p], kCols, rng));
    const auto backend = make_cpu_backend(small_shape(), pool);
    std::vector<const WeightMatrix*> matrices;
    std::vector<std::unique_ptr<LinearWeight>> singles;
    for (const Part& part : parts) {
      matrices.push_back(&part.matrix);
      singles.push_back(backend->prepare_linear(part.matrix));
    }
    const std::unique_ptr<LinearWeight> stack = backend->prepare_linear_stack(matrices);
    ASSERT_NE(stack, nullptr);
    EXPECT_EQ(stack->rows(), int64_t(total_rows));
    const size_t columns[] = {kCols, total_rows, total_rows};
    const std::vector<Activations> buffers = backend->plan_buffers(kMaxTokens, columns);
    const std::vector<float> x = random_activations(kMaxTokens * kCols, rng);
    std::copy(x.begin(), x.end(), buffers[0].data);
    for (size_t n : {1, 2, 3, 5, 16, 40}) {
      SCOPED_TRACE("tokens " + std::to_string(n));
      backend->linear(*stack, buffers[0], buffers[1], n);
      size_t first_row = 0;
      for (size_t p = 0; p < 3; ++p) {
        backend->linear(*singles[p], buffers[0], buffers[2].columns_from(first_row), n);
        first_row += part_rows[p];
      }
      const std::vector<float> stacked(buffers[1].data, buffers[1].data + n * total_rows);
      const std::vector<float> apart(buffers[2].data, buffers[2].data + n * total_rows);
      ASSERT_EQ(stacked, apart);
    }
    SeenNames seen;
    backend->set_linear_observer(&seen);
    backend->linear(*stack, buffers[0], buffers[1], 3);
    backend->set_linear_observer(nullptr);
    EXPECT_EQ(seen.names, (std::vector<std::string>{"part0", "part1", "part2"}));
  }
}

TEST(LinearStack, PartsThatCannotShareOneCopyStayApart) {
  ThreadPool pool(1);
  const auto backend = make_cpu_backend(small_shape(), pool);
  std::mt19937 rng(3);
  const Part q4 = make_part("a", DType::Q4_0, 16, 256, rng), q8 = make_part("b", DType::Q8_0, 16, 256, rng);
  const Part narrow = make_part("c", DType::Q4_0, 16, 128, rng), odd = make_part("d", DType::Q4_0, 12, 256, rng);
  const Part f16 = make_part("e", DType::F16, 16, 256, rng), f16_too = make_part("f", DType::F16, 16, 256, rng);
  Part shard = make_part("g", DType::Q4_0, 16, 256, rng);
  shard.matrix.stored_cols = 512;
  for (const auto& parts : std::vector<std::vector<const WeightMatrix*>>{{&q4.matrix, &q8.matrix},
                                                                          {&q4.matrix, &narrow.matrix},
                                                                          {&q4.matrix, &odd.matrix},
                                                                          {&f16.matrix, &f16_too.matrix},
                                                                          {&q4.matrix, &shard.matrix},
                                                                          {&q4.matrix}})
    EXPECT_EQ(backend->prepare_linear_stack(parts), nullptr) << parts.back()->name;
}

}  // namespace
}  // namespace jisu::cpu
