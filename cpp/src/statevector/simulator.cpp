#include "pyqml/statevector/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <new>
#include <random>
#include <string>

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

#include "pyqml/common/errors.hpp"
#include "pyqml/common/memory.hpp"
#include "pyqml/statevector/measure.hpp"

namespace pyqml::sv {

namespace {
// Below this many wires a state fits in cache and rows are the better unit of parallel work.
constexpr int kRowParallelMaxWires = 14;
// Below this many wires a single state is too small for threads to pay off: every kernel is its own
// parallel region, and waking sleeping workers (OMP_WAIT_POLICY=PASSIVE) costs tens of microseconds, so a
// kernel must do about a millisecond of work (2^18 amplitudes) before splitting it helps.
constexpr int kAmplitudeParallelMinWires = 18;
}  // namespace


Simulator::Simulator(const Circuit& circuit, std::vector<Observable> observables, Precision precision)
    : program_(circuit), precision_(precision) {
    for (const Observable& o : observables) obs_.push_back(compile_observable(o, circuit.n_wires()));
}

template <class F, class Body>
void Simulator::for_rows(const Batch& b, int states_per_row, bool with_derivs, Body&& body) const {
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int64_t rows = b.rows;
    PYQML_REQUIRE(rows >= 0, "negative batch size");
    const int threads = max_threads();
    const bool row_par = rows > 1 && threads > 1 && n <= kRowParallelMaxWires;
    const bool amp_par = !row_par && threads > 1 && n >= kAmplitudeParallelMinWires;
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

template <class F>
void Simulator::backward(const cplx* mats, amp_t<F>* phi, std::vector<amp_t<F>*>& lambdas, bool par,
                         double* d_angles) const {
    // One sweep from the last op back to the first trainable one, keeping phi = U_{k+1..N}^dag psi and
    // lambda = U_{k+1..N}^dag H psi; then d<H>/d angle_k = 2 Re <lambda| dU_k/d angle |phi_{k-1}>
    // (Jones & Gacon, arXiv:2009.02823, Algorithm 1). The derivative term is evaluated in one pass over
    // lambda and phi without forming dU phi, so the extra memory is one lambda per observable.
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const size_t size = size_t(1) << n;
    const size_t nl = lambdas.size();
    const int na = c.n_angles();
    std::fill(d_angles, d_angles + nl * na, 0.0);
    const size_t stop = program_.first_trainable_op();
    for (size_t op = program_.n_ops(); op-- > stop;) {
        const int p0 = c.angle_offset(op);
        for (size_t l = 0; l < nl; ++l)
            program_.template adjoint_step<F>(op, mats, phi, lambdas[l], d_angles + l * na + p0, l == 0, op > stop, par);
    }
}

template <class F>
void Simulator::expval_t(const Batch& b, double* out) const {
    const int n = program_.n_wires();
    const int no = n_observables();
    for_rows<F>(b, 1, false, [&](int64_t r, const double*, const cplx* mats, amp_t<F>* psi, bool par) {
        program_.template forward<F>(psi, mats, par);
        for (int o = 0; o < no; ++o) out[r * no + o] = sv::expval<F>(psi, n, obs_[o], par);
    });
}

template <class F>
void Simulator::var_t(const Batch& b, double* out) const {
    const int n = program_.n_wires();
    const int no = n_observables();
    const size_t size = size_t(1) << n;
    for_rows<F>(b, 2, false, [&](int64_t r, const double*, const cplx* mats, amp_t<F>* psi, bool par) {
        amp_t<F>* hpsi = psi + size;
        program_.template forward<F>(psi, mats, par);
        for (int o = 0; o < no; ++o) {
            const double mean = sv::expval<F>(psi, n, obs_[o], par);
            apply_observable<F>(psi, n, obs_[o], hpsi, par);
            const double sq = 0.5 * two_re_inner<F>(hpsi, hpsi, n, par);
            out[r * no + o] = sq - mean * mean;
        }
    });
}

template <class F>
void Simulator::adjoint_t(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                          double* dangles) const {
    // cot == nullptr: full Jacobian, one lambda per observable. Otherwise one lambda = sum_o cot_o H_o psi.
    const Circuit& c = program_.circuit();
    const int n = c.n_wires();
    const int no = n_observables();
    const int nw = c.n_weights(), nx = c.n_inputs(), na = c.n_angles();
    const size_t size = size_t(1) << n;
    const int nl = cot ? 1 : no;
    const bool shared_dw = cot && !b.weights_per_row;
    // A shared-weights VJP sums over rows; each row writes its own slot and the sum runs in row order
    // afterwards, so the result does not depend on how rows were spread over threads.
    ResultReservation row_sums(shared_dw && dw ? double(b.rows) * nw * sizeof(double) : 0.0,
                               "vjp: per-row weight gradients of " + std::to_string(b.rows) + " rows");
    std::vector<double> dw_rows(shared_dw && dw ? size_t(b.rows) * nw : 0, 0.0);
    for_rows<F>(b, 1 + nl, true, [&](int64_t r, const double*, const cplx* mats, amp_t<F>* states, bool par) {
        amp_t<F>* phi = states;
        std::vector<amp_t<F>*> lambdas(nl);
        for (int l = 0; l < nl; ++l) lambdas[l] = states + (1 + l) * size;
        program_.template forward<F>(phi, mats, par);
        for (int o = 0; o < no; ++o) vals[r * no + o] = sv::expval<F>(phi, n, obs_[o], par);
        if (cot) {
            std::fill(lambdas[0], lambdas[0] + size, amp_t<F>(0));
            for (int o = 0; o < no; ++o)
                if (cot[r * no + o] != 0.0) accumulate_observable<F>(phi, n, obs_[o], lambdas[0], par, cot[r * no + o]);
        } else {
            for (int o = 0; o < no; ++o) apply_observable<F>(phi, n, obs_[o], lambdas[o], par);
        }
        std::vector<double> g(size_t(nl) * na);
        backward<F>(mats, phi, lambdas, par, g.data());
        if (dangles) std::copy(g.begin(), g.end(), dangles + r * size_t(nl) * na);
        if (b.angles) return;
        for (int l = 0; l < nl; ++l) {
            double* dwl;
            if (!dw) dwl = nullptr;
            else if (shared_dw) {
                dwl = dw_rows.data() + size_t(r) * nw;
            } else {
                dwl = dw + (r * nl + l) * size_t(nw);
                std::fill(dwl, dwl + nw, 0.0);
            }
            double* dxl = dx ? dx + (r * nl + l) * size_t(nx) : nullptr;
            if (dxl) std::fill(dxl, dxl + nx, 0.0);
            c.chain(g.data() + size_t(l) * na, dwl, dxl);
        }
    });
    if (shared_dw && dw) {
        std::fill(dw, dw + nw, 0.0);
        for (int64_t r = 0; r < b.rows; ++r)
            for (int k = 0; k < nw; ++k) dw[k] += dw_rows[size_t(r) * nw + k];
    }
}

template <class F>
void Simulator::state_t(const Batch& b, int64_t, const std::function<void(int64_t, const amp_t<F>*)>& take) const {
    for_rows<F>(b, 1, false, [&](int64_t r, const double*, const cplx* mats, amp_t<F>* psi, bool par) {
        program_.template forward<F>(psi, mats, par);
        take(r, psi);
    });
}

void Simulator::expval(const Batch& b, double* out) const {
    if (precision_ == Precision::Double) expval_t<double>(b, out);
    else expval_t<float>(b, out);
}

void Simulator::var(const Batch& b, double* out) const {
    if (precision_ == Precision::Double) var_t<double>(b, out);
    else var_t<float>(b, out);
}

void Simulator::jacobian(const Batch& b, double* vals, double* dw, double* dx) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, nullptr, vals, dw, dx, nullptr);
}

void Simulator::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx) const {
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    if (precision_ == Precision::Double) adjoint_t<double>(b, cot, vals, dw, dx, nullptr);
    else adjoint_t<float>(b, cot, vals, dw, dx, nullptr);
}

void Simulator::angle_jacobian(const Batch& b, double* vals, double* dangles) const {
    if (precision_ == Precision::Double) adjoint_t<double>(b, nullptr, vals, nullptr, nullptr, dangles);
    else adjoint_t<float>(b, nullptr, vals, nullptr, nullptr, dangles);
}

void Simulator::state(const Batch& b, cplx* out) const {
    const size_t size = size_t(1) << program_.n_wires();
    if (precision_ == Precision::Double)
        state_t<double>(b, 0, [&](int64_t r, const amp_t<double>* psi) { std::copy(psi, psi + size, out + r * size); });
    else
        state_t<float>(b, 0, [&](int64_t r, const amp_t<float>* psi) {
            for (size_t i = 0; i < size; ++i) out[r * size + i] = cplx(psi[i]);
        });
}

void Simulator::probs(const Batch& b, const std::vector<int>& wires, double* out) const {
    const int n = program_.n_wires();
    for (int w : wires) PYQML_REQUIRE(w >= 0 && w < n, "probs: wire " + std::to_string(w) + " out of range");
    const size_t k = size_t(1) << wires.size();
    if (precision_ == Precision::Double)
        state_t<double>(b, 0, [&](int64_t r, const amp_t<double>* psi) { marginal_probs<double>(psi, n, wires, out + r * k); });
    else
        state_t<float>(b, 0, [&](int64_t r, const amp_t<float>* psi) { marginal_probs<float>(psi, n, wires, out + r * k); });
}

void Simulator::sample(const Batch& b, const std::vector<int>& wires, int64_t shots, uint64_t seed,
                       int8_t* out) const {
    PYQML_REQUIRE(shots >= 1, "shots must be a positive integer, got " + std::to_string(shots));
    const int k = static_cast<int>(wires.size());
    PYQML_REQUIRE(k >= 1 && k <= 30, "sample: between 1 and 30 wires");
    const size_t dim = size_t(1) << k;
    ResultReservation scratch((double(b.rows) + 1.0) * double(dim) * sizeof(double),
                              "sample: probabilities and distribution of " + std::to_string(b.rows) + " row(s) x 2^" +
                                  std::to_string(k));
    std::vector<double> p(size_t(b.rows) * dim);
    probs(b, wires, p.data());
    for (int64_t r = 0; r < b.rows; ++r) {
        // Cumulative distribution, then inverse-transform sampling: reproducible for a given seed.
        std::vector<double> cdf(dim);
        double acc = 0.0;
        for (size_t i = 0; i < dim; ++i) cdf[i] = (acc += p[r * dim + i]);
        std::mt19937_64 rng(seed + uint64_t(r));
        std::uniform_real_distribution<double> u(0.0, acc);
        for (int64_t s = 0; s < shots; ++s) {
            size_t idx = std::upper_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
            if (idx >= dim) idx = dim - 1;
            int8_t* row = out + (r * shots + s) * k;
            for (int a = 0; a < k; ++a) row[a] = int8_t((idx >> (k - 1 - a)) & 1u);
        }
    }
}

}  // namespace pyqml::sv
