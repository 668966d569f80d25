#include "pyqml/statevector/simulator.hpp"

// The state-vector method's forward calls: values, variances, states, probabilities and samples. The
// gradient calls (adjoint Jacobian, VJP) are in adjoint.cpp; the batch loop both use is in for_rows.hpp.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "pyqml/common/errors.hpp"
#include "pyqml/statevector/measure.hpp"
#include "for_rows.hpp"

namespace pyqml::sv {

Simulator::Simulator(const Circuit& circuit, std::vector<Observable> observables, Precision precision)
    : program_(circuit), precision_(precision) {
    for (const Observable& o : observables) obs_.push_back(compile_observable(o, circuit.n_wires()));
    if (circuit.n_wires() <= kLaneMaxWires && LanePlan::supports(program_))
        lanes_ = std::make_shared<const LanePlan>(program_, obs_);
    shared_ = SharedSuffix::build(circuit, obs_);
    row_flops_ = flops();
}


bool Simulator::use_shared(const Batch& b, bool vjp, bool with_dx) const {
    if (!shared_ || !shared_suffix_enabled() || !SharedSuffix::applies(b) || b.rows < 1) return false;
    if (shared_suffix_forced()) return true;
    // The row paths spread rows (lane blocks) over the threads; the shared-suffix path runs on one.
    const int64_t workers = use_lanes(b) ? lane_workers(b.rows, vjp)
                                         : std::max<int64_t>(1, std::min<int64_t>(max_threads(), b.rows));
    const double rows_cost = double(b.rows) * double(vjp ? row_flops_.vjp : row_flops_.values) / double(workers);
    // SharedSuffix::cost weighs the path's flops in units of a lane flop (its per-row work, vectorised over
    // rows, runs faster per modelled flop than the lanes; its per-call work slower).
    return shared_->cost(b.rows, vjp, with_dx) < rows_cost;
}

bool Simulator::use_shared_pair(const Batch& b, bool need_dx) const {
    if (!shared_ || !shared_suffix_enabled() || !SharedSuffix::applies(b) || b.rows < 1) return false;
    if (shared_->prefix_gradients(need_dx)) return false;  // the kept states serve VJPs without prefix gradients
    if (shared_suffix_forced()) return true;
    const int64_t workers = use_lanes(b) ? lane_workers(b.rows, true)
                                         : std::max<int64_t>(1, std::min<int64_t>(max_threads(), b.rows));
    const double rows_cost =
        double(b.rows) * double(row_flops_.values + row_flops_.vjp) / double(workers);
    return shared_->cost(b.rows, false, false) + shared_->backward_cost(b.rows) < rows_cost;
}

bool Simulator::keeps_shared_suffix(int64_t rows) const {
    Batch b;
    b.rows = rows;
    static const double kShared = 0.0;
    b.weights = &kShared;
    return use_shared_pair(b);
}

bool SavedForward::matches(const Batch& b, int n_weights, int n_inputs) const {
    if (b.rows != rows_ || b.weights_per_row != weights_per_row_ || (b.inputs != nullptr) != has_inputs_ || b.angles)
        return false;
    const size_t nw = size_t(n_weights) * size_t(weights_per_row_ ? rows_ : 1);
    const size_t nx = has_inputs_ ? size_t(rows_) * size_t(n_inputs) : 0;
    if (nw != weights_.size() || nx != inputs_.size()) return false;
    if (nw && (!b.weights || std::memcmp(b.weights, weights_.data(), nw * sizeof(double)) != 0)) return false;
    return !nx || std::memcmp(b.inputs, inputs_.data(), nx * sizeof(double)) == 0;
}

void Simulator::forward(const Batch& b, double* out, SavedForward& s, bool need_dx) const {
    const Circuit& c = program_.circuit();
    s.owner_ = this;
    s.shared_ = shared_;
    s.precision_ = precision_;
    s.rows_ = b.rows;
    s.weights_per_row_ = b.weights_per_row;
    s.has_inputs_ = b.inputs != nullptr && !b.angles;
    s.kept_valid_ = false;
    const size_t nw = b.angles ? 0 : size_t(c.n_weights()) * size_t(b.weights_per_row ? b.rows : 1);
    const size_t nx = s.has_inputs_ ? size_t(b.rows) * size_t(c.n_inputs()) : 0;
    s.weights_.assign(b.weights && nw ? b.weights : nullptr, b.weights && nw ? b.weights + nw : nullptr);
    s.inputs_.assign(nx ? b.inputs : nullptr, nx ? b.inputs + nx : nullptr);
    if (b.angles || !use_shared_pair(b, need_dx)) {
        s.kept_ = SharedSuffixKept{};
        expval(b, out);
        return;
    }
    if (precision_ == Precision::Double) shared_->template expval<double>(b, out, &s.kept_);
    else shared_->template expval<float>(b, out, &s.kept_);
    s.kept_valid_ = true;
}

void Simulator::vjp(const Batch& b, const double* cot, double* vals, double* dw, double* dx,
                    const SavedForward* s) const {
    PYQML_REQUIRE(cot != nullptr, "vjp needs a cotangent");
    const Circuit& c = program_.circuit();
    if (s && s->kept_valid_ && s->owner_ == this && s->shared_ == shared_ && s->precision_ == precision_ &&
        shared_suffix_enabled() && !shared_->prefix_gradients(dx != nullptr, dw != nullptr) &&
        s->matches(b, c.n_weights(), c.n_inputs())) {
        if (precision_ == Precision::Double) shared_->template vjp_kept<double>(s->kept_, cot, vals, dw);
        else shared_->template vjp_kept<float>(s->kept_, cot, vals, dw);
        return;
    }
    vjp(b, cot, vals, dw, dx);
}

template <class F>
void Simulator::expval_t(const Batch& b, double* out) const {
    const int n = program_.n_wires();
    const int no = n_observables();
    if (use_shared(b, false, false)) {
        shared_->template expval<F>(b, out);
        return;
    }
    if (use_lanes(b)) {
        lane_expval_t<F>(b, out);
        return;
    }
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
    sample_from_probs(p.data(), b.rows, k, shots, seed, out);
}

void sample_from_probs(const double* p, int64_t rows, int k, int64_t shots, uint64_t seed, int8_t* out) {
    const size_t dim = size_t(1) << k;
    for (int64_t r = 0; r < rows; ++r) {
        // Cumulative distribution, then inverse-transform sampling: reproducible for a given seed.
        std::vector<double> cdf(dim);
        double acc = 0.0;
        // (Negative rounding of a density matrix's diagonal counts as 0.)
        for (size_t i = 0; i < dim; ++i) cdf[i] = (acc += std::max(0.0, p[r * dim + i]));
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
