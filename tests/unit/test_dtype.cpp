#include "core/dtype.h"

#include <gtest/gtest.h>

namespace jisu {

TEST(DType, KnownTypesRoundTripThroughNames) {
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::IQ4_NL}) {
    auto parsed = dtype_from_name(dtype_name(type));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(dtype_from_name("Q4_k"), DType::Q4_K);
  EXPECT_FALSE(dtype_from_name("q9_9").has_value());
}

TEST(DType, UnknownIdHasNoTraits) {
  EXPECT_FALSE(dtype_traits(4).has_value());  // ggml's removed Q4_2
  EXPECT_FALSE(dtype_traits(9999).has_value());
  EXPECT_EQ(row_bytes(DType::Q4_K, 512), 288u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 64), 68u);
}

}  // namespace jisu
