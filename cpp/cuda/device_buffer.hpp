#pragma once
// Device memory of the CUDA back end's host code (statevector_gpu.cpp, tensornet_gpu.cpp): a buffer that
// grows on demand and frees itself, and blocking copies to and from it. Every failure throws CudaError
// (kernels.hpp) with CUDA's message.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "kernels.hpp"

namespace pyqml::cuda {

struct DeviceBuffer {
    void* p = nullptr;
    size_t bytes = 0;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { release(); }
    void release() {
        if (p) cudaFree(p);
        p = nullptr;
        bytes = 0;
    }
    void ensure(size_t b, const char* what) {
        if (b <= bytes) return;
        release();
        check(cudaMalloc(&p, std::max<size_t>(b, 256)), what);
        bytes = std::max<size_t>(b, 256);
    }
    template <class T>
    T* as() const {
        return static_cast<T*>(p);
    }
};

inline void upload(DeviceBuffer& d, const void* src, size_t bytes, const char* what) {
    d.ensure(bytes, what);
    if (bytes) check(cudaMemcpy(d.p, src, bytes, cudaMemcpyHostToDevice), what);
}

inline void download(void* dst, const void* src, size_t bytes, const char* what) {
    if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), what);
}

}  // namespace pyqml::cuda
