// The choice between one and two row groups per repacked tile (repacked_tile_choice.h): what
// it measures decides it, JISU_TILE_GROUPS forces it, and a bad value is an error. (Both forms
// give the scalar reference's bits: test_int8_repacked_matmul.cpp.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/repacked_tile_choice.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace jisu::cpu {
namespace {

// Sets JISU_TILE_GROUPS for one scope and restores what was there.
class ScopedTileGroups {
 public:
  explicit ScopedTileGroups(const char* value) {
    if (const char* old = std::getenv("JISU_TILE_GROUPS")) old_ = old, had_ = true;
    value ? setenv("JISU_TILE_GROUPS", value, 1) : unsetenv("JISU_TILE_GROUPS");
  }
  ~ScopedTileGroups() { had_ ? setenv("JISU_TILE_GROUPS", old_.c_str(), 1) : unsetenv("JISU_TILE_GROUPS"); }

 private:
  std::string old_;
  bool had_ = false;
};

TEST(RepackedTileChoice, MeasuresBothFormsWhereThePathHasTwoAndTakesTheFaster) {
  ScopedTileGroups unset(nullptr);
  bool some_path_has_two = false;
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const RepackedTileChoice choice = choose_repacked_tiles(kernel_table(isa));
    EXPECT_EQ(choice.available, kernel_table(isa).repacked_two_group_tiles);
    EXPECT_FALSE(choice.forced);
    if (!choice.available) {
      EXPECT_FALSE(choice.two_groups);
      EXPECT_EQ(choice.one_group_us, 0.0);
      EXPECT_EQ(describe(choice), "");
      continue;
    }
    some_path_has_two = true;
    EXPECT_GT(choice.one_group_us, 0.0);
    EXPECT_GT(choice.two_groups_us, 0.0);
    EXPECT_EQ(choice.two_groups, choice.two_groups_us <= choice.one_group_us);
    EXPECT_NE(describe(choice).find("measured at load"), std::string::npos) << describe(choice);
  }
  // The AVX-512 VNNI paths have them; a machine without AVX-512 VNNI has none to measure.
  EXPECT_EQ(some_path_has_two, isa_supported(Isa::Avx512Vnni));
}

TEST(RepackedTileChoice, EnvironmentForcesEitherFormAndRejectsOtherValues) {
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const KernelTable& kernels = kernel_table(isa);
    {
      ScopedTileGroups one("1");
      const RepackedTileChoice choice = choose_repacked_tiles(kernels);
      EXPECT_TRUE(choice.forced);
      EXPECT_FALSE(choice.two_groups);
      EXPECT_EQ(choice.one_group_us, 0.0);  // nothing measured
    }
    {
      ScopedTileGroups two("2");
      const RepackedTileChoice choice = choose_repacked_tiles(kernels);
      EXPECT_TRUE(choice.forced);
      EXPECT_EQ(choice.two_groups, kernels.repacked_two_group_tiles);  // only where the kernels have them
    }
    ScopedTileGroups bad("3");
    EXPECT_THROW(choose_repacked_tiles(kernels), Error);
  }
}

}  // namespace
}  // namespace jisu::cpu
