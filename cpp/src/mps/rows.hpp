#pragma once
// The row loop every MPS call runs in, and the forward pass of one row.
#include <algorithm>
#include <new>
#include <string>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "blocks.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/common/threads.hpp"
#include "pyqml/tensornet/blas.hpp"

namespace pyqml::mps {

// Rows spread over threads, each row computed by one thread; errors carried out of the parallel region.
template <class R, class Body>
void Engine::for_rows(const Batch& b, double bytes_per_row, const char* what, Body&& body) const {
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int threads = max_threads();
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows)));
    const auto chi = bond_bounds();
    const double widest = chi.empty() ? 1.0 : *std::max_element(chi.begin(), chi.end());
    check_memory(double(workers) * bytes_per_row,
                 std::string("mps ") + what + " (bond dimension up to " + std::to_string(int64_t(std::min(widest, 9e18))) +
                     " on " + std::to_string(n_wires()) + " wires" + (workers > 1 ? ", per thread" : "") + ")");
    tn::set_blas_threads(1);
    std::string error;
    bool failed = false, oom = false;
    const Circuit& c = circuit_;
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers) if (workers > 1)
    for (int64_t r = 0; r < rows; ++r) {
        if (failed) continue;
        try {
            std::vector<double> angles(size_t(c.n_angles()));
            if (b.angles) {
                std::copy(b.angles + r * c.n_angles(), b.angles + (r + 1) * c.n_angles(), angles.begin());
            } else {
                c.bind(b.weights_per_row ? b.weights + r * c.n_weights() : b.weights,
                       b.inputs ? b.inputs + r * c.n_inputs() : nullptr, angles.data());
            }
            body(r, angles.data());
        } catch (const std::bad_alloc&) {
#pragma omp critical(pyqml_mps_error)
            {
                if (!failed) error = std::string("mps ") + what + ": out of memory";
                failed = oom = true;
            }
        } catch (const std::exception& e) {
#pragma omp critical(pyqml_mps_error)
            {
                if (!failed) error = e.what();
                failed = true;
            }
        }
    }
    if (failed) {
        if (oom) throw MemoryLimitExceeded(error, bytes_per_row, memory_limit_bytes());
        throw InvalidInput(error);
    }
}

namespace detail {

template <class R>
State<R> run(const std::vector<Block>& blocks, int n, const double* angles, const Options& o) {
    State<R> st = product_state<R>(n);
    for (const auto& b : blocks) run_block(b, angles, o, st.s.data() + b.lo, &st, static_cast<Trace<R>*>(nullptr));
    return st;
}

template <class R>
double norm2(const State<R>& st) {
    return pauli_value(st, std::string(st.s.size(), 'I')).real();
}

inline std::string letters_of(const PauliTerm& t, int n) {
    std::string s(size_t(n), 'I');
    for (size_t j = 0; j < t.wires.size(); ++j) s[size_t(t.wires[j])] = t.paulis[j];
    return s;
}

}  // namespace detail

}  // namespace pyqml::mps
