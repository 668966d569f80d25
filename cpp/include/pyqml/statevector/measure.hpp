#pragma once
// Measurements on a state vector: Pauli-sum expectations, H|psi>, inner products, marginals.
#include <vector>

#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/apply_gate.hpp"

namespace pyqml::sv {

template <class F>
inline int parity_sign(index_t i, index_t zmask) {
    return (__builtin_popcountll(i & zmask) & 1) ? -1 : 1;
}

// <psi| H |psi> for H = sum of Pauli strings given as masks.
template <class F>
double expval(const amp_t<F>* psi, int n, const std::vector<PauliMasks>& terms, bool par) {
    const int64_t size = int64_t(1) << n;
    double total = 0.0;
    for (const PauliMasks& t : terms) {
        double re = 0.0, im = 0.0;
        if (t.xmask == 0) {
            re = sum_range(size, par, [&](int64_t i) {
                return parity_sign<F>(index_t(i), t.zmask) * double(std::norm(psi[i]));
            });
        } else {
            // <psi|P|psi> is real for Hermitian P, but P alone (with its i^nY phase) may not be: keep both parts.
            auto part = [&](bool imag) {
                return sum_range(size, par, [&](int64_t i) {
                    const std::complex<double> v = std::complex<double>(std::conj(psi[index_t(i) ^ t.xmask])) *
                                                   std::complex<double>(psi[i]);
                    return parity_sign<F>(index_t(i), t.zmask) * (imag ? v.imag() : v.real());
                });
            };
            re = part(false);
            im = part(true);
        }
        total += (t.phase * cplx(re, im)).real();
    }
    return total;
}

// out += scale * sum_t c_t P_t psi.
template <class F>
void accumulate_observable(const amp_t<F>* psi, int n, const std::vector<PauliMasks>& terms, amp_t<F>* out,
                           bool par, double scale) {
    const int64_t size = int64_t(1) << n;
    for (const PauliMasks& t : terms) {
        const amp_t<F> ph(t.phase * scale);
        const amp_t<F> mph = -ph;
        for_range(size, par, [&](int64_t i) {
            out[index_t(i) ^ t.xmask] += (parity_sign<F>(index_t(i), t.zmask) > 0 ? ph : mph) * psi[i];
        });
    }
}

// out = sum_t c_t P_t psi (out is overwritten).
template <class F>
void apply_observable(const amp_t<F>* psi, int n, const std::vector<PauliMasks>& terms, amp_t<F>* out, bool par) {
    std::fill(out, out + (size_t(1) << n), amp_t<F>(0));
    accumulate_observable<F>(psi, n, terms, out, par, 1.0);
}

// 2 Re <a|b>
template <class F>
double two_re_inner(const amp_t<F>* a, const amp_t<F>* b, int n, bool par) {
    const int64_t size = int64_t(1) << n;
    return 2.0 * sum_range(size, par, [&](int64_t i) {
        return double(a[i].real()) * double(b[i].real()) + double(a[i].imag()) * double(b[i].imag());
    });
}

// Marginal probabilities of `wires` (first wire = most significant bit of the output index).
template <class F>
void marginal_probs(const amp_t<F>* psi, int n, const std::vector<int>& wires, double* out) {
    const int k = static_cast<int>(wires.size());
    std::fill(out, out + (size_t(1) << k), 0.0);
    const index_t size = index_t(1) << n;
    for (index_t i = 0; i < size; ++i) {
        unsigned local = 0;
        for (int a = 0; a < k; ++a) local = (local << 1) | ((i >> bit_of_wire(n, wires[a])) & 1u);
        out[local] += std::norm(psi[i]);
    }
}

}  // namespace pyqml::sv
