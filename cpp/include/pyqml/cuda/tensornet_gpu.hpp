#pragma once
// The tensor-network method on one GPU (CUDA builds; kernels in cpp/cuda/tn_kernels.cu).
//
// It runs the plans of a CPU tn::Executor (its light cones, structures and contraction plans, made once per
// circuit and observables by the path search): every pairwise step of a plan becomes one cuBLAS
// strided-batched ZGEMM / CGEMM over a group of contractions (rows x terms x slices of one structure),
// the gathers and scatters of the plan's permutations are device kernels, and the reverse mode runs the
// CPU engine's backward steps (the same layouts, recomputation included) on the device. Gate matrices are
// bound on the host, a block of rows at a time, and copied once per block; leaves are filled, contracted and
// differentiated on the device, and only each term's value and angle gradients come back. The plans'
// device tables (permutations, leaf maps) are built on first use and kept; a plan replaced on the executor
// (set_plan) is rebuilt on the next call.
//
// Memory: each call checks its device memory (the bound matrices of a block, the results, and the
// workspace of at least one contraction of every structure) against the device's free memory and throws
// MemoryLimitExceeded with the estimate before allocating; within that it sizes the groups to use a part
// of the free memory. CUDA and cuBLAS errors throw CudaError (std::runtime_error) with their message.
#include <memory>
#include <string>
#include <vector>

#include "pyqml/common/batch.hpp"
#include "pyqml/cuda/gpu.hpp"
#include "pyqml/tensornet/executor.hpp"

namespace pyqml::cuda {

#ifdef PYQML_HAVE_CUDA
// Loads cuBLAS once (thread-safe; cpp/cuda/cublas.hpp): libcublas.so.13, then .12, from the loader's search
// path (an already loaded copy included), then from each of `dirs`, $CUDA_HOME/lib64 and
// /usr/local/cuda/lib64. Returns "" when cuBLAS is loaded, else why not (the names and places tried); a
// later call retries.
std::string load_cublas(const std::vector<std::string>& dirs = {});

class TnDevice;

class TensorNet {
public:
    // The executor must outlive this object and have every structure's plan set before a call.
    TensorNet(const tn::Executor& executor, int device);
    ~TensorNet();
    TensorNet(const TensorNet&) = delete;
    TensorNet& operator=(const TensorNet&) = delete;

    const tn::Executor& executor() const;
    const Circuit& circuit() const { return executor().circuit(); }
    int n_observables() const { return executor().n_observables(); }
    int device() const;

    void expval(const Batch& b, double* out) const;
    void jacobian(const Batch& b, double* vals, double* dw, double* dx) const;
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const;

    // Device bytes a call on `rows` rows needs at least (one contraction per structure at a time), and per
    // structure the layout a gradient call would use (1: every value stored; a recompute layout, see
    // contraction.hpp) and how many contractions one group holds, at the device's current free memory.
    double estimated_bytes(int64_t rows, bool gradients) const;
    std::vector<int> layouts(int64_t rows, bool gradients) const;
    std::vector<int64_t> group_sizes(int64_t rows, bool gradients) const;

private:
    std::unique_ptr<TnDevice> impl_;
};
#endif

}  // namespace pyqml::cuda
