#pragma once
// Gate kernels on a state vector of 2^n amplitudes. Each kernel walks the amplitudes the gate mixes in
// independent groups, so one loop parallelises cleanly (`par`: spread that loop over OpenMP threads).
//
// Bit positions: wire w of an n-wire register is bit n-1-w. A gate's matrix index has its first wire as
// the most significant bit, so `bits` lists the gate's wires' bit positions in gate order.
#include <algorithm>
#include <complex>
#include <vector>
#include <cstdint>

#include "pyqml/common/types.hpp"

namespace pyqml::sv {

// Spread i over the bit positions not in `sorted` (ascending): the base index of the i-th group.
inline index_t insert_zero_bits(index_t i, const int* sorted, int k) {
    for (int a = 0; a < k; ++a) {
        const index_t low = (index_t(1) << sorted[a]) - 1;
        i = ((i & ~low) << 1) | (i & low);
    }
    return i;
}

template <class F>
using amp_t = std::complex<F>;

// Runs body(i) for i in [0, n): across OpenMP threads when `par`, else as a plain loop (no parallel
// region at all, which matters when millions of tiny kernels run inside an outer parallel loop over rows).
template <class Body>
inline void for_range(int64_t n, bool par, Body&& body) {
#ifdef PYQML_HAVE_OPENMP
    if (par) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) body(i);
        return;
    }
#endif
    for (int64_t i = 0; i < n; ++i) body(i);
}

// Sum of body(i) (a double, or a pair of doubles via two calls) over [0, n), parallel when `par`.
template <class Body>
inline double sum_range(int64_t n, bool par, Body&& body) {
    double s = 0.0;
#ifdef PYQML_HAVE_OPENMP
    if (par) {
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += body(i);
        return s;
    }
#endif
    for (int64_t i = 0; i < n; ++i) s += body(i);
    return s;
}

// Dense 2x2 on one bit.
template <class F>
void apply_dense1(amp_t<F>* psi, int n, int bit, const cplx* m, bool par) {
    const amp_t<F> m00(m[0]), m01(m[1]), m10(m[2]), m11(m[3]);
    const int64_t groups = int64_t(1) << (n - 1);
    const index_t stride = index_t(1) << bit;
    for_range(groups, par, [&](int64_t g) {
        const index_t i0 = insert_zero_bits(index_t(g), &bit, 1);
        const index_t i1 = i0 | stride;
        const amp_t<F> a = psi[i0], b = psi[i1];
        psi[i0] = m00 * a + m01 * b;
        psi[i1] = m10 * a + m11 * b;
    });
}

// Dense 4x4 on bits (b0, b1), b0 being the matrix index's high bit.
template <class F>
void apply_dense2(amp_t<F>* psi, int n, int b0, int b1, const cplx* m, bool par) {
    amp_t<F> mm[16];
    for (int i = 0; i < 16; ++i) mm[i] = amp_t<F>(m[i]);
    int sorted[2] = {std::min(b0, b1), std::max(b0, b1)};
    const index_t s0 = index_t(1) << b0, s1 = index_t(1) << b1;
    const int64_t groups = int64_t(1) << (n - 2);
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, 2);
        const index_t idx[4] = {base, base | s1, base | s0, base | s0 | s1};
        amp_t<F> v[4];
        for (int r = 0; r < 4; ++r) v[r] = psi[idx[r]];
        for (int r = 0; r < 4; ++r)
            psi[idx[r]] = mm[4 * r] * v[0] + mm[4 * r + 1] * v[1] + mm[4 * r + 2] * v[2] + mm[4 * r + 3] * v[3];
    });
}

// Singly-controlled 2x2 (CNOT, CRX, CRot, ...): the workhorse of entangling layers, so it gets its own loop.
// With `zero_off`, amplitudes with the control unset are zeroed (derivative of a controlled gate).
template <class F>
void apply_controlled1(amp_t<F>* psi, int n, int cbit, int tbit, const cplx* m, bool zero_off, bool par) {
    const amp_t<F> m00(m[0]), m01(m[1]), m10(m[2]), m11(m[3]);
    const int sorted[2] = {std::min(cbit, tbit), std::max(cbit, tbit)};
    const index_t cm = index_t(1) << cbit, tm = index_t(1) << tbit;
    const int64_t groups = int64_t(1) << (n - 2);
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, 2);
        if (zero_off) {
            psi[base] = 0;
            psi[base | tm] = 0;
        }
        const index_t i0 = base | cm, i1 = i0 | tm;
        const amp_t<F> a = psi[i0], b = psi[i1];
        psi[i0] = m00 * a + m01 * b;
        psi[i1] = m10 * a + m11 * b;
    });
}

// Controlled-X on any number of controls (CNOT, Toffoli): a swap of amplitude pairs, no arithmetic.
template <class F>
void apply_controlled_x(amp_t<F>* psi, int n, const int* ctrl_bits, int nc, int tbit, bool par) {
    int sorted[4];
    index_t cm = 0;
    for (int a = 0; a < nc; ++a) {
        sorted[a] = ctrl_bits[a];
        cm |= index_t(1) << ctrl_bits[a];
    }
    sorted[nc] = tbit;
    std::sort(sorted, sorted + nc + 1);
    const index_t tm = index_t(1) << tbit;
    const int64_t groups = int64_t(1) << (n - nc - 1);
    for_range(groups, par, [&](int64_t g) {
        const index_t i0 = insert_zero_bits(index_t(g), sorted, nc + 1) | cm;
        std::swap(psi[i0], psi[i0 | tm]);
    });
}

// Dense 2^k x 2^k on k <= 3 bits, with `nc` leading control bits that must be set for the block to act.
// With `zero_off`, amplitudes whose controls are not all set are zeroed (the derivative of a controlled
// gate vanishes there).
template <class F>
void apply_controlled(amp_t<F>* psi, int n, const int* ctrl_bits, int nc, const int* tgt_bits, int k,
                      const cplx* m, bool zero_off, bool par) {
    const int dim = 1 << k;
    amp_t<F> mm[64];
    for (int i = 0; i < dim * dim; ++i) mm[i] = amp_t<F>(m[i]);
    int sorted[6];
    for (int a = 0; a < nc; ++a) sorted[a] = ctrl_bits[a];
    for (int a = 0; a < k; ++a) sorted[nc + a] = tgt_bits[a];
    std::sort(sorted, sorted + nc + k);
    index_t cmask = 0;
    for (int a = 0; a < nc; ++a) cmask |= index_t(1) << ctrl_bits[a];
    index_t offs[8];
    for (int r = 0; r < dim; ++r) {
        offs[r] = 0;
        for (int a = 0; a < k; ++a)
            if (r & (1 << (k - 1 - a))) offs[r] |= index_t(1) << tgt_bits[a];
    }
    const int64_t groups = int64_t(1) << (n - nc - k);
    const int ncombo = 1 << nc;
    for_range(groups, par, [&](int64_t g) {
        const index_t base = insert_zero_bits(index_t(g), sorted, nc + k);
        if (zero_off) {
            for (int c = 0; c < ncombo - 1; ++c) {
                index_t cb = 0;
                for (int a = 0; a < nc; ++a)
                    if (c & (1 << a)) cb |= index_t(1) << ctrl_bits[a];
                for (int r = 0; r < dim; ++r) psi[base | cb | offs[r]] = 0;
            }
        }
        const index_t on = base | cmask;
        amp_t<F> v[8];
        for (int r = 0; r < dim; ++r) v[r] = psi[on | offs[r]];
        for (int r = 0; r < dim; ++r) {
            amp_t<F> acc = 0;
            for (int c = 0; c < dim; ++c) acc += mm[r * dim + c] * v[c];
            psi[on | offs[r]] = acc;
        }
    });
}

// Diagonal on k bits: psi[i] *= d[local index of i].
template <class F>
void apply_diagonal(amp_t<F>* psi, int n, const int* bits, int k, const cplx* d, bool par) {
    if (k == 1) {
        const amp_t<F> d0(d[0]), d1(d[1]);
        const int64_t size = int64_t(1) << n;
        const index_t mask = index_t(1) << bits[0];
        for_range(size, par, [&](int64_t i) { psi[i] *= (index_t(i) & mask) ? d1 : d0; });
        return;
    }
    amp_t<F> dd[1 << 6];
    const int dim = 1 << k;
    // k can exceed 6 for MultiRZ; fall back to computing the parity-free general lookup from d directly.
    const bool small = k <= 6;
    if (small)
        for (int i = 0; i < dim; ++i) dd[i] = amp_t<F>(d[i]);
    const int64_t size = int64_t(1) << n;
    for_range(size, par, [&](int64_t i) {
        unsigned local = 0;
        for (int a = 0; a < k; ++a) local = (local << 1) | ((index_t(i) >> bits[a]) & 1u);
        psi[i] *= small ? dd[local] : amp_t<F>(d[local]);
    });
}

}  // namespace pyqml::sv

namespace pyqml::sv {

// acc[0..N) += body(i, acc) over i in [0, n), with per-thread partial sums when `par`.
template <int N, class Body>
inline void reduce_range(int64_t n, bool par, double* acc, Body&& body) {
#ifdef PYQML_HAVE_OPENMP
    if (par) {
#pragma omp parallel
        {
            double local[N] = {};
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; ++i) body(i, local);
#pragma omp critical(pyqml_reduce_range)
            for (int k = 0; k < N; ++k) acc[k] += local[k];
        }
        return;
    }
#endif
    double local[N] = {};
    for (int64_t i = 0; i < n; ++i) body(i, local);
    for (int k = 0; k < N; ++k) acc[k] += local[k];
}

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

// One backward step of the adjoint method for a 2x2 gate (optionally singly controlled) in a single pass:
// psi <- U^dag psi, G <- overlap(lam, psi) over the gate's groups, lam <- U^dag lam. Reads and writes each
// state once instead of three passes; `uinv` is U^dag.
template <class F>
void adjoint_step1(amp_t<F>* psi, amp_t<F>* lam, int n, int bit, int cbit, const cplx* uinv, bool want_overlap,
                   bool update_lam, cplx* G, bool par) {
    const amp_t<F> m00(uinv[0]), m01(uinv[1]), m10(uinv[2]), m11(uinv[3]);
    const index_t tm = index_t(1) << bit;
    const bool ctrl = cbit >= 0;
    const index_t cm = ctrl ? index_t(1) << cbit : 0;
    const int sorted[2] = {ctrl ? std::min(cbit, bit) : bit, ctrl ? std::max(cbit, bit) : bit};
    const int nz = ctrl ? 2 : 1;
    double acc[8] = {};
    reduce_range<8>(int64_t(1) << (n - nz), par, acc, [&](int64_t g, double* s) {
        const index_t i0 = (ctrl ? insert_zero_bits(index_t(g), sorted, 2) : insert_zero_bits(index_t(g), &bit, 1)) | cm;
        const index_t i1 = i0 | tm;
        const amp_t<F> a0 = psi[i0], b0 = psi[i1];
        const amp_t<F> a = m00 * a0 + m01 * b0, b = m10 * a0 + m11 * b0;
        psi[i0] = a;
        psi[i1] = b;
        const amp_t<F> la = lam[i0], lb = lam[i1];
        if (want_overlap) {
            acc_conj_mul<F>(s + 0, la, a);
            acc_conj_mul<F>(s + 2, la, b);
            acc_conj_mul<F>(s + 4, lb, a);
            acc_conj_mul<F>(s + 6, lb, b);
        }
        if (update_lam) {
            lam[i0] = m00 * la + m01 * lb;
            lam[i1] = m10 * la + m11 * lb;
        }
    });
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
    for (int r = 0; r < dim; ++r) G[r] = cplx(acc[2 * r], acc[2 * r + 1]);
}

// Dense overlap on k <= 3 target bits with nc control bits set (the general case).
template <class F>
void overlap_block(const amp_t<F>* lam, const amp_t<F>* psi, int n, const int* ctrl_bits, int nc,
                   const int* tgt_bits, int k, cplx* G, bool par) {
    const int dim = 1 << k;
    int sorted[6];
    for (int a = 0; a < nc; ++a) sorted[a] = ctrl_bits[a];
    for (int a = 0; a < k; ++a) sorted[nc + a] = tgt_bits[a];
    std::sort(sorted, sorted + nc + k);
    index_t cmask = 0;
    for (int a = 0; a < nc; ++a) cmask |= index_t(1) << ctrl_bits[a];
    index_t offs[8];
    for (int r = 0; r < dim; ++r) {
        offs[r] = 0;
        for (int a = 0; a < k; ++a)
            if (r & (1 << (k - 1 - a))) offs[r] |= index_t(1) << tgt_bits[a];
    }
    double acc[128] = {};
    reduce_range<128>(int64_t(1) << (n - nc - k), par, acc, [&](int64_t g, double* s) {
        const index_t on = insert_zero_bits(index_t(g), sorted, nc + k) | cmask;
        for (int r = 0; r < dim; ++r)
            for (int c = 0; c < dim; ++c) acc_conj_mul<F>(s + 2 * (r * dim + c), lam[on | offs[r]], psi[on | offs[c]]);
    });
    for (int i = 0; i < dim * dim; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

}  // namespace pyqml::sv
