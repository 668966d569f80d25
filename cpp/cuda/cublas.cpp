// cuBLAS loaded at run time (cublas.hpp).
#include "cublas.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "kernels.hpp"
#include "pyqml/cuda/tensornet_gpu.hpp"

namespace pyqml::cuda {

namespace {

std::mutex g_mutex;
Cublas g_cublas;
bool g_loaded = false;
std::string g_why = "cuBLAS has not been loaded yet";

const char* const kNames[] = {"libcublas.so.13", "libcublas.so.12"};

// Resolves every entry point of an open library into out; false (and *why) when one is missing.
bool resolve(void* lib, Cublas& out, std::string* why) {
    auto sym = [&](const char* name) -> void* {
        void* p = dlsym(lib, name);
        if (!p && why) *why = std::string("the library lacks ") + name;
        return p;
    };
    out.create = reinterpret_cast<decltype(out.create)>(sym("cublasCreate_v2"));
    if (!out.create) return false;
    out.destroy = reinterpret_cast<decltype(out.destroy)>(sym("cublasDestroy_v2"));
    if (!out.destroy) return false;
    out.set_stream = reinterpret_cast<decltype(out.set_stream)>(sym("cublasSetStream_v2"));
    if (!out.set_stream) return false;
    out.zgemm = reinterpret_cast<decltype(out.zgemm)>(sym("cublasZgemmStridedBatched"));
    if (!out.zgemm) return false;
    out.cgemm = reinterpret_cast<decltype(out.cgemm)>(sym("cublasCgemmStridedBatched"));
    if (!out.cgemm) return false;
    out.status_string = reinterpret_cast<decltype(out.status_string)>(dlsym(lib, "cublasGetStatusString"));
    return true;
}

bool try_open(const std::string& file, std::string& tried) {
    void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* e = dlerror();
        tried += "\n  " + file + ": " + (e ? e : "not found");
        return false;
    }
    Cublas c;
    std::string why;
    if (!resolve(lib, c, &why)) {
        tried += "\n  " + file + ": " + why;
        dlclose(lib);
        return false;
    }
    c.path = file;
    g_cublas = c;
    return true;
}

}  // namespace

std::string load_cublas(const std::vector<std::string>& dirs) {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_loaded) return "";
    std::vector<std::string> places(dirs);
    if (const char* home = std::getenv("CUDA_HOME")) places.push_back(std::string(home) + "/lib64");
    places.push_back("/usr/local/cuda/lib64");
    std::string tried;
    for (const char* name : kNames) {
        if (try_open(name, tried)) {
            g_loaded = true;
            return "";
        }
    }
    for (const std::string& d : places)
        for (const char* name : kNames)
            if (try_open(d + "/" + name, tried)) {
                g_loaded = true;
                return "";
            }
    g_why = "cuBLAS (libcublas.so.13 or .12) not found; the GPU tensor network needs it (pip install nvidia-cublas, "
            "or put the CUDA toolkit's lib64 on LD_LIBRARY_PATH). Tried:" + tried;
    return g_why;
}

const Cublas& cublas() {
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_loaded) return g_cublas;
    }
    const std::string why = load_cublas();
    if (!why.empty()) throw CudaError(why);
    return g_cublas;
}

void check_cublas(int status, const char* what) {
    if (status == 0) return;
    std::string msg;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_loaded && g_cublas.status_string) msg = g_cublas.status_string(status);
    }
    if (msg.empty()) msg = "status " + std::to_string(status);
    throw CudaError(std::string("cuBLAS error in ") + what + ": " + msg);
}

}  // namespace pyqml::cuda
