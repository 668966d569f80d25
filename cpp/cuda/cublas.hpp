#pragma once
// cuBLAS for the GPU tensor network, loaded at run time (dlopen) rather than linked: the module then
// builds without cuBLAS's headers or libraries, imports on machines without them, and a GPU call that
// needs cuBLAS says which library it looked for and where. The few entry points used are declared here
// with cuBLAS's C ABI (cublas_api.h, stable since CUDA 8): handles, the stream, and the strided-batched
// complex GEMMs.
#include <cuComplex.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

namespace pyqml::cuda {

using CublasHandle = void*;  // cublasHandle_t
enum CublasOp : int { kOpN = 0, kOpT = 1 };  // cublasOperation_t (transpose, never conjugate)

struct Cublas {
    int (*create)(CublasHandle*) = nullptr;                 // cublasCreate_v2
    int (*destroy)(CublasHandle) = nullptr;                 // cublasDestroy_v2
    int (*set_stream)(CublasHandle, cudaStream_t) = nullptr;  // cublasSetStream_v2
    const char* (*status_string)(int) = nullptr;            // cublasGetStatusString (may be absent)
    int (*zgemm)(CublasHandle, int, int, int, int, int, const cuDoubleComplex*, const cuDoubleComplex*, int,
                 long long, const cuDoubleComplex*, int, long long, const cuDoubleComplex*, cuDoubleComplex*, int,
                 long long, int) = nullptr;  // cublasZgemmStridedBatched
    int (*cgemm)(CublasHandle, int, int, int, int, int, const cuComplex*, const cuComplex*, int, long long,
                 const cuComplex*, int, long long, const cuComplex*, cuComplex*, int, long long,
                 int) = nullptr;  // cublasCgemmStridedBatched
    std::string path;             // the library loaded
};

// The loaded entry points (load_cublas, pyqml/cuda/tensornet_gpu.hpp, loads them on first use); throws
// CudaError saying why cuBLAS could not be loaded.
const Cublas& cublas();
// Throws CudaError("cuBLAS error in <what>: <status>") when status is not CUBLAS_STATUS_SUCCESS.
void check_cublas(int status, const char* what);

}  // namespace pyqml::cuda
