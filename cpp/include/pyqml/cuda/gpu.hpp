#pragma once
// The optional CUDA back end of the state-vector method (built with -DPYQML_CUDA=ON; kernels in cpp/cuda/).
//
// Every build has the status calls: a CPU-only build reports that it was built without CUDA, a CUDA build
// on a machine without a usable GPU reports why (no device, no driver, a driver too old for the runtime).
// The GPU state vector itself exists only in CUDA builds (PYQML_HAVE_CUDA).
#include <memory>
#include <string>
#include <vector>

#include "pyqml/common/batch.hpp"
#include "pyqml/circuit/circuit.hpp"
#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/program.hpp"

namespace pyqml::cuda {

// Whether this build has the CUDA kernels.
bool built();
// Whether a CUDA device can be used now; when not, *reason (if given) says why.
bool available(std::string* reason = nullptr);
int device_count();
// Name, free and total memory (bytes) of a device; throw when it cannot be used.
std::string device_name(int device);
void memory_info(int device, double* free_bytes, double* total_bytes);

#ifdef PYQML_HAVE_CUDA
// A circuit and its observables on one GPU, with the calls of sv::Simulator. States live on the device
// for a whole call; only gate matrices go up and results come back. Registers of up to kBatchMaxWires run
// many rows per launch (one warp per row, states in shared memory); larger ones run row by row, one launch
// per gate over the whole device. CUDA errors throw CudaError (std::runtime_error) with CUDA's message;
// a call whose states exceed the device's free memory throws MemoryLimitExceeded before allocating.
class StateVector {
public:
    StateVector(const Circuit& circuit, std::vector<Observable> observables, Precision precision, int device);
    ~StateVector();
    StateVector(const StateVector&) = delete;
    StateVector& operator=(const StateVector&) = delete;

    const sv::Program& program() const;
    const Circuit& circuit() const { return program().circuit(); }
    int n_observables() const;
    int device() const;

    void expval(const Batch& b, double* out) const;
    void var(const Batch& b, double* out) const;
    void jacobian(const Batch& b, double* vals, double* dw, double* dx) const;
    void vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const;
    void state(const Batch& b, cplx* out) const;
    void probs(const Batch& b, const std::vector<int>& wires, double* out) const;
    void sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed, int8_t* out) const;

    // How a call of `rows` rows would run: true for the many-rows-per-launch kernel.
    bool batched(int64_t rows) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

inline constexpr int kBatchMaxWires = 14;

// Bandwidth probes for the bench (kernel time from CUDA events, bytes counting reads and writes):
// a device-to-device copy of `bytes`, and one gate kernel ("dense1", "dense2", "controlled1", "diagonal1")
// applied `reps` times to an n-wire state on `target` (a bit position). Both return achieved GB/s.
double bench_copy_gbps(int device, double bytes, int reps);
double bench_gate_gbps(int device, int n, Precision precision, const std::string& kind, int target, int reps);
#endif

}  // namespace pyqml::cuda
