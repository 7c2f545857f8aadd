// The ISA paths and their kernel tables: which paths this CPU has, that each path's table is
// complete and holds its own instantiation, and that the dispatchers follow active_isa().
// (Each kernel family's tests compare every path's results with the scalar reference.)
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "backends/cpu/kernel_table.h"
#include "core/cpu_features.h"

namespace jisu::cpu {
namespace {

const Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Avx512Amx};
// The paths with int8 kernels of their own (Avx512Amx is Avx512Vnni's with AMX tiles for the
// repacked prompt matmuls).
const Isa kInt8Isas[] = {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni};

TEST(KernelTable, SupportedIsasStartWithScalarAndEndWithTheDetectedOne) {
  const std::vector<Isa> isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::Scalar);
  EXPECT_EQ(isas.back(), detected_isa());
  for (Isa isa : kAllIsas) EXPECT_EQ(isa_supported(isa), std::find(isas.begin(), isas.end(), isa) != isas.end());
  // Every SIMD path builds on AVX2, and a VNNI path on its width's plain path.
  if (isa_supported(Isa::AvxVnni) || isa_supported(Isa::Avx512)) {
    EXPECT_TRUE(isa_supported(Isa::Avx2));
  }
  if (isa_supported(Isa::Avx512Vnni)) {
    EXPECT_TRUE(isa_supported(Isa::Avx512));
  }
  if (isa_supported(Isa::Avx512Amx)) {
    EXPECT_TRUE(isa_supported(Isa::Avx512Vnni));
  }
}

TEST(KernelTable, IsaNamesAreDistinct) {
  std::set<std::string> names;
  for (Isa isa : kAllIsas) names.insert(std::string(isa_name(isa)));
  EXPECT_EQ(names.size(), std::size(kAllIsas));
  EXPECT_EQ(isa_name(Isa::Avx512Vnni), "avx512_vnni");  // the JISU_ISA spelling
  EXPECT_EQ(isa_name(Isa::Avx512Amx), "avx512_amx");
}

// Only addresses are compared here, so this holds whatever the CPU has.
TEST(KernelTable, EveryPathHasItsOwnInt8KernelsAndItsWidthsFloatKernels) {
  for (Isa isa : kAllIsas) {
    const KernelTable& k = kernel_table(isa);
    EXPECT_TRUE(k.dequantize_row && k.matmul_rows && k.quantize_activations && k.matmul_rows_int8 &&
                k.quantize_activations_super_blocks && k.matmul_rows_int8_super_blocks && k.matmul_repacked_int8)
        << isa_name(isa);
  }
  std::set<void (*)(const RepackedMatmulArgs&)> repacked;
  std::set<void (*)(const Int8MatmulArgs&)> row_major;
  for (Isa isa : kInt8Isas) {
    repacked.insert(kernel_table(isa).matmul_repacked_int8);
    row_major.insert(kernel_table(isa).matmul_rows_int8);
  }
  EXPECT_EQ(repacked.size(), std::size(kInt8Isas));
  EXPECT_EQ(row_major.size(), std::size(kInt8Isas));
  // The AMX path: its own repacked kernel where it can run, Avx512Vnni's for everything else.
  EXPECT_EQ(kernel_table(Isa::Avx512Amx).matmul_rows_int8, kernel_table(Isa::Avx512Vnni).matmul_rows_int8);
  EXPECT_EQ(kernel_table(Isa::Avx512Amx).matmul_rows, kernel_table(Isa::Avx512).matmul_rows);
  if (isa_supported(Isa::Avx512Amx)) {
    EXPECT_NE(kernel_table(Isa::Avx512Amx).matmul_repacked_int8, kernel_table(Isa::Avx512Vnni).matmul_repacked_int8);
  }
  // The float kernels exist per vector width: the VNNI paths share their width's.
  EXPECT_EQ(kernel_table(Isa::AvxVnni).matmul_rows, kernel_table(Isa::Avx2).matmul_rows);
  EXPECT_EQ(kernel_table(Isa::Avx512Vnni).matmul_rows, kernel_table(Isa::Avx512).matmul_rows);
  EXPECT_NE(kernel_table(Isa::Avx512).matmul_rows, kernel_table(Isa::Avx2).matmul_rows);
  EXPECT_NE(kernel_table(Isa::Avx2).matmul_rows, kernel_table(Isa::Scalar).matmul_rows);
  EXPECT_EQ(kernel_table(Isa::Scalar).matmul_rows_int8, &matmul_rows_int8_scalar);
}

TEST(KernelTable, ActiveKernelsFollowSetActiveIsa) {
  const Isa saved = active_isa();
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    EXPECT_EQ(active_isa(), isa);
    EXPECT_EQ(&active_kernels(), &kernel_table(isa)) << isa_name(isa);
  }
  set_active_isa(saved);
}

}  // namespace
}  // namespace jisu::cpu
