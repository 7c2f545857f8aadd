#pragma once
// Every CUDA runtime and cuBLAS call goes through these: a failure becomes a jisu::Error with
// one line naming the call, its place and the error, never an abort or a silent continue.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace jisu::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace jisu::cuda

#define JISU_CUDA_CHECK(call)                                                                         \
  do {                                                                                                \
    const cudaError_t jisu_cuda_status_ = (call);                                                     \
    if (jisu_cuda_status_ != cudaSuccess) ::jisu::cuda::throw_cuda_error(jisu_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define JISU_CUBLAS_CHECK(call)                                                                           \
  do {                                                                                                    \
    const cublasStatus_t jisu_cublas_status_ = (call);                                                    \
    if (jisu_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::jisu::cuda::throw_cublas_error(jisu_cublas_status_, #call, __FILE__, __LINE__);                   \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, execution errors at the
// next synchronising call (also checked).
#define JISU_CUDA_CHECK_LAUNCH() JISU_CUDA_CHECK(cudaGetLastError())
