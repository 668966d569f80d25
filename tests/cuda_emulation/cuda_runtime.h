// Host emulation of the few CUDA runtime calls the GPU tensor network uses (tests/cuda_emulation/run.sh).
#pragma once
#include <cstddef>
#include <cstdint>
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
typedef void* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* d, const void* s, size_t bytes, cudaMemcpyKind);
cudaError_t cudaMemsetAsync(void* d, int v, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaMemGetInfo(size_t* f, size_t* t);
cudaError_t cudaSetDevice(int);
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t);
const char* cudaGetErrorName(cudaError_t);
struct EmuDim { unsigned x; };
static const EmuDim blockIdx{0}, threadIdx{0}, blockDim{1}, gridDim{1};
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
