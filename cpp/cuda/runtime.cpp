// CUDA status calls of a CUDA build: whether a device can be used, and why not. The runtime is linked
// statically, so this module loads on machines without a driver and says so here instead of failing to import.
#include <cuda_runtime.h>

#include <string>

#include "kernels.hpp"
#include "pyqml/common/errors.hpp"
#include "pyqml/cuda/gpu.hpp"

namespace pyqml::cuda {

bool built() { return true; }

bool available(std::string* reason) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear the (non-sticky) error
        if (reason)
            *reason = std::string("no usable CUDA device: ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")";
        return false;
    }
    if (count == 0) {
        if (reason) *reason = "no CUDA device found";
        return false;
    }
    if (reason) reason->clear();
    return true;
}

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

namespace {
void require_device(int device) {
    std::string why;
    if (!available(&why)) throw InvalidInput(why);
    const int count = device_count();
    PYQML_REQUIRE(device >= 0 && device < count, "CUDA device " + std::to_string(device) + " does not exist (" +
                                                     std::to_string(count) + " device(s) present)");
}
}  // namespace

std::string device_name(int device) {
    require_device(device);
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    return p.name;
}

void memory_info(int device, double* free_bytes, double* total_bytes) {
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    size_t f = 0, t = 0;
    check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
    if (free_bytes) *free_bytes = double(f);
    if (total_bytes) *total_bytes = double(t);
}

}  // namespace pyqml::cuda
