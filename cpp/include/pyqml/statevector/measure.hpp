#pragma once
// Measurements on a state vector: Pauli-sum expectations, H|psi>, inner products, marginals.
#include <utility>
#include <vector>

#include "pyqml/observables/pauli.hpp"
#include "pyqml/statevector/apply_gate.hpp"

namespace pyqml::sv {

template <class F>
inline int parity_sign(index_t i, index_t zmask) {
    return (__builtin_popcountll(i & zmask) & 1) ? -1 : 1;
}

// The Z-only terms of a Pauli sum (no X or Y, real coefficient) as one diagonal d(i) = sum_t c_t
// (-1)^popcount(i & z_t), evaluated in chunks of 64 amplitudes: terms on the low 6 bits are one table of
// 64 values, terms on the high bits one number per chunk, terms on both a sign per chunk times a sign per
// amplitude. A sum of n single-Z terms then costs one pass over the state, not n.
struct DiagonalTerms {
    static constexpr int kLow = 6;
    double lo[64] = {};
    std::vector<std::pair<index_t, double>> hi, mixed;  // (zmask, coefficient)
    std::vector<PauliMasks> rest;                       // the other terms
    bool any = false;

    DiagonalTerms(const std::vector<PauliMasks>& terms, int n) {
        int nd = 0;
        for (const PauliMasks& t : terms) nd += t.xmask == 0 && t.phase.imag() == 0.0;
        for (const PauliMasks& t : terms) {
            if (n < kLow || nd < 2 || t.xmask != 0 || t.phase.imag() != 0.0) {
                rest.push_back(t);
                continue;
            }
            any = true;
            const double c = t.phase.real();
            const index_t lmask = t.zmask & 63, hmask = t.zmask >> kLow;
            if (hmask == 0)
                for (int j = 0; j < 64; ++j) lo[j] += (__builtin_popcountll(index_t(j) & lmask) & 1) ? -c : c;
            else if (lmask == 0) hi.push_back({hmask, c});
            else mixed.push_back({t.zmask, c});
        }
    }
    // d(i) for the 64 amplitudes of chunk h.
    void chunk(index_t h, double* d) const {
        double dh = 0.0;
        for (const auto& [m, c] : hi) dh += (__builtin_popcountll(h & m) & 1) ? -c : c;
        for (int j = 0; j < 64; ++j) d[j] = lo[j] + dh;
        for (const auto& [m, c] : mixed) {
            const double a = (__builtin_popcountll(h & (m >> kLow)) & 1) ? -c : c;
            for (int j = 0; j < 64; ++j) d[j] += (__builtin_popcountll(index_t(j) & m & 63) & 1) ? -a : a;
        }
    }
};

// <psi| H |psi> for H = sum of Pauli strings given as masks.
template <class F>
double expval(const amp_t<F>* psi, int n, const std::vector<PauliMasks>& all_terms, bool par) {
    const int64_t size = int64_t(1) << n;
    double total = 0.0;
    const DiagonalTerms diag(all_terms, n);
    if (diag.any)
        total += sum_range(size >> DiagonalTerms::kLow, par, [&](int64_t h) {
            double d[64];
            diag.chunk(index_t(h), d);
            const amp_t<F>* p = psi + (h << DiagonalTerms::kLow);
            double s = 0.0;
            for (int j = 0; j < 64; ++j) s += d[j] * (double(p[j].real()) * p[j].real() + double(p[j].imag()) * p[j].imag());
            return s;
        });
    const std::vector<PauliMasks>& terms = diag.rest;
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
void accumulate_observable(const amp_t<F>* psi, int n, const std::vector<PauliMasks>& all_terms, amp_t<F>* out,
                           bool par, double scale) {
    const int64_t size = int64_t(1) << n;
    const DiagonalTerms diag(all_terms, n);
    if (diag.any)
        for_range(size >> DiagonalTerms::kLow, par, [&](int64_t h) {
            double d[64];
            diag.chunk(index_t(h), d);
            const amp_t<F>* p = psi + (h << DiagonalTerms::kLow);
            amp_t<F>* o = out + (h << DiagonalTerms::kLow);
            for (int j = 0; j < 64; ++j) o[j] += F(scale * d[j]) * p[j];
        });
    const std::vector<PauliMasks>& terms = diag.rest;
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
