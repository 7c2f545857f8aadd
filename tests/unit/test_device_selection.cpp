// Device selection through the forward factory, in every build: names parse, the CPU path is
// the Transformer, and asking for CUDA where it cannot run is one jisu::Error (built without
// CUDA, or no device visible), never a crash.
#include <gtest/gtest.h>

#include "backends/cuda/cuda_backend.h"
#include "core/error.h"
#include "models/forward_factory.h"

namespace jisu {
namespace {

TEST(DeviceSelection, NamesParse) {
  EXPECT_EQ(device_from_name("cpu"), Device::Cpu);
  EXPECT_EQ(device_from_name("cuda"), Device::Cuda);
  EXPECT_FALSE(device_from_name("gpu").has_value());
  EXPECT_FALSE(device_from_name("").has_value());
}

TEST(DeviceSelection, WithoutADeviceCudaIsOneClearError) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is visible (tests/cuda covers it)";
  ModelConfig config;
  config.n_layer = 2;
  ThreadPool pool(1);
  try {
    EXPECT_THROW(cuda::device_description(), Error);
    EXPECT_THROW(cuda::copy_bandwidth_gbps(), Error);
    (void)make_backend(Device::Cuda, config, pool);
    FAIL() << "expected jisu::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_TRUE(message == "jisu was built without CUDA" || message == "no CUDA device visible") << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace jisu
