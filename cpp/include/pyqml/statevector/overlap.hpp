#pragma once
// The kernels of the adjoint method (cpp/src/statevector/adjoint.cpp): local overlap matrices
// G_rc = sum_groups conj(lam[group, r]) psi[group, c] of two states on a gate's wires, from which every
// parameter derivative <lam| dU/dtheta |psi> = sum_rc dU_rc G_rc follows, and the fused backward step of a
// 2x2 gate (un-apply U to psi and lam and accumulate G in one pass over both states). Kept apart from the
// forward kernels (apply_gate.hpp), whose loop helpers (reduce_range, insert_zero_bits, BlockLayout) and
// multi-versioning macro (PYQML_SIMD_CLONES) they share.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <vector>

#include "pyqml/common/types.hpp"
#include "pyqml/statevector/apply_gate.hpp"

namespace pyqml::sv {

// The adjoint method needs <lam| dU |psi> for every parameter of a gate. With the gate's local overlap
// matrix G_rc = sum over the gate's amplitude groups of conj(lam[group, r]) psi[group, c], each of them is
// sum_rc dU_rc G_rc: one pass over the two states per gate, however many parameters it has, and no
// temporary state. G is accumulated as interleaved (re, im) doubles.
template <int N, class Body>
inline void overlap_reduce(int64_t groups, bool par, cplx* G, Body&& body) {
    double acc[2 * N] = {};
    reduce_range<2 * N>(groups, par, acc, body);
    for (int i = 0; i < N; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

template <class F>
inline void acc_conj_mul(double* s, const amp_t<F>& l, const amp_t<F>& v) {
    // conj(l) * v
    s[0] += double(l.real()) * double(v.real()) + double(l.imag()) * double(v.imag());
    s[1] += double(l.real()) * double(v.imag()) - double(l.imag()) * double(v.real());
}

// 2x2 overlap on one bit (optionally restricted to a set control bit: cbit >= 0).
template <class F>
void overlap1(const amp_t<F>* lam, const amp_t<F>* psi, int n, int bit, int cbit, cplx* G, bool par) {
    const index_t tm = index_t(1) << bit;
    const bool ctrl = cbit >= 0;
    const index_t cm = ctrl ? index_t(1) << cbit : 0;
    const int sorted[2] = {ctrl ? std::min(cbit, bit) : bit, ctrl ? std::max(cbit, bit) : bit};
    const int nz = ctrl ? 2 : 1;
    overlap_reduce<4>(int64_t(1) << (n - nz), par, G, [&](int64_t g, double* s) {
        const index_t i0 = (ctrl ? insert_zero_bits(index_t(g), sorted, 2) : insert_zero_bits(index_t(g), &bit, 1)) | cm;
        const index_t i1 = i0 | tm;
        const amp_t<F> a = psi[i0], b = psi[i1], la = lam[i0], lb = lam[i1];
        acc_conj_mul<F>(s + 0, la, a);
        acc_conj_mul<F>(s + 2, la, b);
        acc_conj_mul<F>(s + 4, lb, a);
        acc_conj_mul<F>(s + 6, lb, b);
    });
}

// The inner loop of adjoint_step1 over one contiguous run of pairs (x[j], y[j]) of psi and (u[j], v[j]) of
// lam; adds the overlap to s[0..8). m = U^dag as (re, im) x 4.
template <class F, bool UpdatePsi, bool UpdateLam>
PYQML_SIMD_CLONES void adjoint_run1(F* __restrict x, F* __restrict y, F* __restrict u, F* __restrict v, index_t len,
                                    const F* m, double* s) {
    const F ar = m[0], ai = m[1], br = m[2], bi = m[3], cr = m[4], ci = m[5], dr = m[6], di = m[7];
    double g0r = 0, g0i = 0, g1r = 0, g1i = 0, g2r = 0, g2i = 0, g3r = 0, g3i = 0;
#pragma omp simd reduction(+ : g0r, g0i, g1r, g1i, g2r, g2i, g3r, g3i)
    for (index_t j = 0; j < len; ++j) {
        const F xr = x[2 * j], xi = x[2 * j + 1], yr = y[2 * j], yi = y[2 * j + 1];
        F pr = xr, pi = xi, qr = yr, qi = yi;
        if constexpr (UpdatePsi) {
            pr = ar * xr - ai * xi + br * yr - bi * yi;
            pi = ar * xi + ai * xr + br * yi + bi * yr;
            qr = cr * xr - ci * xi + dr * yr - di * yi;
            qi = cr * xi + ci * xr + dr * yi + di * yr;
            x[2 * j] = pr;
            x[2 * j + 1] = pi;
            y[2 * j] = qr;
            y[2 * j + 1] = qi;
        }
        const F lr = u[2 * j], li = u[2 * j + 1], mr = v[2 * j], mi = v[2 * j + 1];
        // conj(lam_r) * psi_c for (r, c) in {0,1}^2
        g0r += double(lr * pr + li * pi);
        g0i += double(lr * pi - li * pr);
        g1r += double(lr * qr + li * qi);
        g1i += double(lr * qi - li * qr);
        g2r += double(mr * pr + mi * pi);
        g2i += double(mr * pi - mi * pr);
        g3r += double(mr * qr + mi * qi);
        g3i += double(mr * qi - mi * qr);
        if constexpr (UpdateLam) {
            u[2 * j] = ar * lr - ai * li + br * mr - bi * mi;
            u[2 * j + 1] = ar * li + ai * lr + br * mi + bi * mr;
            v[2 * j] = cr * lr - ci * li + dr * mr - di * mi;
            v[2 * j + 1] = cr * li + ci * lr + dr * mi + di * mr;
        }
    }
    s[0] += g0r; s[1] += g0i; s[2] += g1r; s[3] += g1i;
    s[4] += g2r; s[5] += g2i; s[6] += g3r; s[7] += g3i;
}

// One backward step of the adjoint method for a 2x2 gate (optionally singly controlled: cbit >= 0) in a
// single pass: psi <- U^dag psi (if update_psi), G <- overlap(lam, psi) over the gate's pairs,
// lam <- U^dag lam (if update_lam). Reads and writes each state once instead of three passes; `uinv` is U^dag.
template <class F>
void adjoint_step1(amp_t<F>* psi, amp_t<F>* lam, int n, int bit, int cbit, const cplx* uinv, bool update_psi,
                   bool update_lam, cplx* G, bool par) {
    F m[8];
    for (int a = 0; a < 4; ++a) {
        m[2 * a] = F(uinv[a].real());
        m[2 * a + 1] = F(uinv[a].imag());
    }
    const index_t tm = index_t(1) << bit;
    const index_t cm = cbit >= 0 ? index_t(1) << cbit : 0;
    F* P = reinterpret_cast<F*>(psi);
    F* L = reinterpret_cast<F*>(lam);
    auto run = [&](index_t i0, index_t len, double* s) {
        F *x = P + 2 * i0, *y = P + 2 * (i0 + tm), *u = L + 2 * i0, *v = L + 2 * (i0 + tm);
        if (update_psi) {
            if (update_lam) adjoint_run1<F, true, true>(x, y, u, v, len, m, s);
            else adjoint_run1<F, true, false>(x, y, u, v, len, m, s);
        } else {
            if (update_lam) adjoint_run1<F, false, true>(x, y, u, v, len, m, s);
            else adjoint_run1<F, false, false>(x, y, u, v, len, m, s);
        }
    };
    double acc[8] = {};
    if (small_state_loop(n, cbit >= 0 ? std::min(cbit, bit) : bit)) {
        // Small states (never split across threads) on low bits: a plain loop with the sums in registers.
        const amp_t<F> m00(uinv[0]), m01(uinv[1]), m10(uinv[2]), m11(uinv[3]);
        const int sorted[2] = {cbit >= 0 ? std::min(cbit, bit) : bit, cbit >= 0 ? std::max(cbit, bit) : bit};
        const int nz = cbit >= 0 ? 2 : 1;
        double g0r = 0, g0i = 0, g1r = 0, g1i = 0, g2r = 0, g2i = 0, g3r = 0, g3i = 0;
        const int64_t groups = int64_t(1) << (n - nz);
        for (int64_t g = 0; g < groups; ++g) {
            const index_t i0 = insert_zero_bits(index_t(g), sorted, nz) | cm, i1 = i0 | tm;
            amp_t<F> a = psi[i0], b = psi[i1];
            if (update_psi) {
                const amp_t<F> a0 = a, b0 = b;
                a = m00 * a0 + m01 * b0;
                b = m10 * a0 + m11 * b0;
                psi[i0] = a;
                psi[i1] = b;
            }
            const amp_t<F> la = lam[i0], lb = lam[i1];
            g0r += double(la.real() * a.real() + la.imag() * a.imag());
            g0i += double(la.real() * a.imag() - la.imag() * a.real());
            g1r += double(la.real() * b.real() + la.imag() * b.imag());
            g1i += double(la.real() * b.imag() - la.imag() * b.real());
            g2r += double(lb.real() * a.real() + lb.imag() * a.imag());
            g2i += double(lb.real() * a.imag() - lb.imag() * a.real());
            g3r += double(lb.real() * b.real() + lb.imag() * b.imag());
            g3i += double(lb.real() * b.imag() - lb.imag() * b.real());
            if (update_lam) {
                lam[i0] = m00 * la + m01 * lb;
                lam[i1] = m10 * la + m11 * lb;
            }
        }
        G[0] = cplx(g0r, g0i);
        G[1] = cplx(g1r, g1i);
        G[2] = cplx(g2r, g2i);
        G[3] = cplx(g3r, g3i);
        return;
    }
    constexpr index_t kRun = 1024;
    if (cbit < 0) {
        const index_t len = std::min(tm, kRun);
        reduce_range<8>(int64_t((index_t(1) << (n - 1)) / len), par, acc, [&](int64_t r, double* s) {
            const index_t g0 = index_t(r) * len;
            run(((g0 >> bit) << (bit + 1)) | (g0 & (tm - 1)), len, s);
        });
    } else {
        const int sorted[2] = {std::min(cbit, bit), std::max(cbit, bit)};
        const index_t len = std::min(index_t(1) << sorted[0], kRun);
        reduce_range<8>(int64_t((index_t(1) << (n - 2)) / len), par, acc, [&](int64_t r, double* s) {
            run(insert_zero_bits(index_t(r) * len, sorted, 2) | cm, len, s);
        });
    }
    for (int i = 0; i < 4; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

// Diagonal overlap on k bits: G_r = sum_{i with local index r} conj(lam_i) psi_i.
template <class F>
void overlap_diagonal(const amp_t<F>* lam, const amp_t<F>* psi, int n, const int* bits, int k, cplx* G, bool par) {
    const int dim = 1 << k;
    std::vector<double> acc(2 * size_t(dim), 0.0);
    if (k <= 2) {
        double a8[8] = {};
        reduce_range<8>(int64_t(1) << n, par, a8, [&](int64_t i, double* s) {
            unsigned local = 0;
            for (int a = 0; a < k; ++a) local = (local << 1) | ((index_t(i) >> bits[a]) & 1u);
            acc_conj_mul<F>(s + 2 * local, lam[i], psi[i]);
        });
        for (int r = 0; r < dim; ++r) G[r] = cplx(a8[2 * r], a8[2 * r + 1]);
        return;
    }
    // Wide diagonals (MultiRZ on many wires): serial accumulation per local index.
    for (int64_t i = 0; i < (int64_t(1) << n); ++i) {
        unsigned local = 0;
        for (int a = 0; a < k; ++a) local = (local << 1) | ((index_t(i) >> bits[a]) & 1u);
        acc_conj_mul<F>(acc.data() + 2 * local, lam[i], psi[i]);
    }
    team_sync(par);  // every thread of a sweep team runs this loop: none moves on while others read
    for (int r = 0; r < dim; ++r) G[r] = cplx(acc[2 * r], acc[2 * r + 1]);
}

// Dense overlap on k <= 3 target bits with nc control bits set (the general case).
template <class F>
void overlap_block(const amp_t<F>* lam, const amp_t<F>* psi, int n, const int* ctrl_bits, int nc,
                   const int* tgt_bits, int k, cplx* G, bool par) {
    const int dim = 1 << k;
    const BlockLayout lay(ctrl_bits, nc, tgt_bits, k);
    const int* sorted = lay.sorted;
    const index_t cmask = lay.cmask;
    const index_t* offs = lay.offs;
    double acc[128] = {};
    reduce_range<128>(int64_t(1) << (n - nc - k), par, acc, [&](int64_t g, double* s) {
        const index_t on = insert_zero_bits(index_t(g), sorted, nc + k) | cmask;
        for (int r = 0; r < dim; ++r)
            for (int c = 0; c < dim; ++c) acc_conj_mul<F>(s + 2 * (r * dim + c), lam[on | offs[r]], psi[on | offs[c]]);
    });
    for (int i = 0; i < dim * dim; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

}  // namespace pyqml::sv
