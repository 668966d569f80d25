#pragma once
// Simulator::for_rows, the loop over the rows of a batch that every state-vector call runs in (values in
// simulator.cpp, gradients in adjoint.cpp): binds each row's angles and matrices, gives the body its
// states, and chooses between spreading rows and spreading amplitudes over threads.
#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/simulator.hpp"

namespace pyqml::sv {

// Below this many wires a state fits in cache and rows are the better unit of parallel work.
inline constexpr int kRowParallelMaxWires = 14;
// Below this many wires a single state is too small for threads to pay off: every kernel is its own
// parallel region, and waking sleeping workers (OMP_WAIT_POLICY=PASSIVE) costs tens of microseconds, so a
// kernel must do about a millisecond of work (2^18 amplitudes) before splitting it helps.
inline constexpr int kAmplitudeParallelMinWires = 18;

template <class F, class Body>
void Simulator::for_rows(const Batch& b, int states_per_row, bool with_derivs, Body&& body) const {
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int threads = max_threads();
    const bool row_par = rows > 1 && threads > 1 && n <= kRowParallelMaxWires;
    // A tiled program hands each thread whole tiles inside one parallel region per pass (no per-gate
    // fork/join), which pays from the first tiled width on.
    // A fused program runs each pass of the forward pass / adjoint sweep inside one parallel region
    // (run_sweep, team.hpp), which pays from fused_parallel_min_wires() on.
    const bool amp_par = !row_par && threads > 1 &&
                         n >= (program_.tiled()   ? kTileMinWires
                               : program_.fused() ? fused_parallel_min_wires()
                                                  : kAmplitudeParallelMinWires);
    const int workers = row_par ? static_cast<int>(std::min<int64_t>(threads, rows)) : 1;
    const size_t size = size_t(1) << n;
    check_memory(double(workers) * states_per_row * double(size) * sizeof(amp_t<F>),
                 std::to_string(states_per_row) + " state vector(s) of " + std::to_string(n) + " wires" +
                     (workers > 1 ? " per thread" : ""));

    // Errors inside a parallel region are carried out of it and rethrown here (an exception leaving an
    // OpenMP region terminates the process); a failed allocation becomes MemoryLimitExceeded.
    std::string error;
    bool failed = false, out_of_memory = false;
    auto record = [&](const std::string& what, bool oom) {
#pragma omp critical(pyqml_row_error)
        {
            if (!failed) {
                error = what;
                out_of_memory = oom;
            }
            failed = true;
        }
    };
#pragma omp parallel num_threads(workers) if (row_par)
    {
        std::vector<double> angles;
        std::vector<cplx> mats;
        std::vector<amp_t<F>> states;
        try {
            angles.resize(c.n_angles());
            mats.resize(program_.matrix_buffer_size());
            states.resize(size * states_per_row);
        } catch (const std::bad_alloc&) {
            record("allocating " + std::to_string(states_per_row) + " state vector(s) of " + std::to_string(n) +
                       " wires failed (the system refused the memory)", true);
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t r = 0; r < rows; ++r) {
            if (failed) continue;
            try {
                if (b.angles) {
                    std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), angles.begin());
                    for (double a : angles)
                        PYQML_REQUIRE(std::isfinite(a), "angle is NaN or infinite in row " + std::to_string(r));
                } else {
                    const double* w = b.weights_per_row ? b.weights + r * c.n_weights() : b.weights;
                    const double* x = b.inputs ? b.inputs + r * c.n_inputs() : nullptr;
                    c.bind(w, x, angles.data());
                }
                program_.bind_matrices(angles.data(), mats.data(), with_derivs);
                body(r, angles.data(), mats.data(), states.data(), amp_par);
            } catch (const std::bad_alloc&) {
                record("row " + std::to_string(r) + ": an allocation failed (the system refused the memory)", true);
            } catch (const std::exception& e) {
                record("row " + std::to_string(r) + ": " + e.what(), false);
            }
        }
    }
    if (failed && out_of_memory) {
        const double est = double(workers) * states_per_row * double(size) * sizeof(amp_t<F>);
        throw MemoryLimitExceeded(error + "; estimated " + std::to_string((long long)est) +
                                      " bytes, within the memory limit of " +
                                      std::to_string((long long)memory_limit_bytes()) + " bytes",
                                  est, memory_limit_bytes());
    }
    if (failed) throw InvalidInput(error);
}

// Where each row's angle gradients go (both adjoint paths, adjoint.cpp and lanes.cpp): the angle
// Jacobian (dangles), or through Circuit::chain into dw / dx. A shared-weights VJP sums over rows: each
// row writes its own slot and finish() adds them in row order, so the result does not depend on how rows
// were spread over threads.
class RowGradients {
public:
    RowGradients(const Circuit& c, const Batch& b, int n_lambdas, bool vjp, double* dw, double* dx, double* dangles)
        : c_(c), b_(b), nl_(n_lambdas), shared_(vjp && !b.weights_per_row), dw_(dw), dx_(dx), dangles_(dangles),
          sums_(shared_ && dw ? double(b.rows) * c.n_weights() * sizeof(double) : 0.0,
                "vjp: per-row weight gradients of " + std::to_string(b.rows) + " rows"),
          dw_rows_(shared_ && dw ? size_t(b.rows) * c.n_weights() : 0, 0.0) {}

    // g: n_lambdas x n_angles gradients of row r.
    void take(int64_t r, const double* g) {
        const int nw = c_.n_weights(), nx = c_.n_inputs(), na = c_.n_angles();
        if (dangles_) std::copy(g, g + size_t(nl_) * na, dangles_ + r * size_t(nl_) * na);
        if (b_.angles) return;
        for (int l = 0; l < nl_; ++l) {
            double* dwl = nullptr;
            if (dw_ && shared_) dwl = dw_rows_.data() + size_t(r) * nw;
            else if (dw_) {
                dwl = dw_ + (r * nl_ + l) * size_t(nw);
                std::fill(dwl, dwl + nw, 0.0);
            }
            double* dxl = dx_ ? dx_ + (r * nl_ + l) * size_t(nx) : nullptr;
            if (dxl) std::fill(dxl, dxl + nx, 0.0);
            c_.chain(g + size_t(l) * na, dwl, dxl);
        }
    }

    void finish() {
        if (!(shared_ && dw_)) return;
        const int nw = c_.n_weights();
        std::fill(dw_, dw_ + nw, 0.0);
        for (int64_t r = 0; r < b_.rows; ++r)
            for (int k = 0; k < nw; ++k) dw_[k] += dw_rows_[size_t(r) * nw + k];
    }

private:
    const Circuit& c_;
    const Batch& b_;
    int nl_;
    bool shared_;
    double *dw_, *dx_, *dangles_;
    ResultReservation sums_;
    std::vector<double> dw_rows_;
};

}  // namespace pyqml::sv
