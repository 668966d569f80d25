// The CUDA status calls of a CPU-only build (a CUDA build defines them in cpp/cuda/runtime.cpp).
#ifndef PYQML_HAVE_CUDA
#include "pyqml/cuda/gpu.hpp"

#include "pyqml/common/errors.hpp"

namespace pyqml::cuda {

namespace {
const char* kNotBuilt =
    "pyqml was built without CUDA (PYQML_CUDA=OFF); rebuild with pip install . -C cmake.define.PYQML_CUDA=ON";
}

bool built() { return false; }
bool available(std::string* reason) {
    if (reason) *reason = kNotBuilt;
    return false;
}
int device_count() { return 0; }
std::string device_name(int) { throw InvalidInput(kNotBuilt); }
void memory_info(int, double*, double*) { throw InvalidInput(kNotBuilt); }

}  // namespace pyqml::cuda
#endif
