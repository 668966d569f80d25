#pragma once
// The MPS kernels shared by the forward calls (engine.cpp) and the gradients (adjoint.cpp): BLAS and
// LAPACK wrappers, site tensors, the truncated split and its derivative, merges, gates on a site's
// physical index, and transfer matrices for norms, Pauli strings and their environments.
#include <algorithm>
#include <cmath>
#include <complex>
#include <string>
#include <type_traits>
#include <vector>

#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <cblas.h>
#include <lapacke.h>

#include "pyqml/common/errors.hpp"
#include "pyqml/mps/mps.hpp"

namespace pyqml::mps::detail {

template <class R>
using C = std::complex<R>;

enum class Tr { N, T, H };

// Row-major C[m x n] = alpha op(A) op(B) + beta C; lda, ldb, ldc are the stored row lengths.
template <class R>
void gemm(Tr ta, Tr tb, int m, int n, int k, C<R> alpha, const C<R>* a, int lda, const C<R>* b, int ldb, C<R> beta,
          C<R>* c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) c[size_t(i) * ldc + j] = beta == C<R>(0) ? C<R>(0) : beta * c[size_t(i) * ldc + j];
        return;
    }
    auto t = [](Tr x) { return x == Tr::N ? CblasNoTrans : x == Tr::T ? CblasTrans : CblasConjTrans; };
    if constexpr (std::is_same_v<R, double>)
        scipy_cblas_zgemm(CblasRowMajor, t(ta), t(tb), m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc);
    else
        scipy_cblas_cgemm(CblasRowMajor, t(ta), t(tb), m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc);
}

// Thin SVD of a row-major m x n matrix: u (m x r), s (r, descending), vt (r x n), r = min(m, n).
template <class R>
struct Svd {
    int m = 0, n = 0, r = 0;
    std::vector<C<R>> u, vt;
    std::vector<R> s;
};

template <class R>
void svd(int m, int n, const C<R>* a, Svd<R>& out) {
    out.m = m;
    out.n = n;
    out.r = std::min(m, n);
    std::vector<C<R>> work(a, a + size_t(m) * n);
    out.u.resize(size_t(m) * out.r);
    out.vt.resize(size_t(out.r) * n);
    out.s.resize(size_t(out.r));
    int info;
    if constexpr (std::is_same_v<R, double>)
        info = scipy_LAPACKE_zgesdd(LAPACK_ROW_MAJOR, 'S', m, n, work.data(), n, out.s.data(), out.u.data(), out.r,
                                    out.vt.data(), n);
    else
        info = scipy_LAPACKE_cgesdd(LAPACK_ROW_MAJOR, 'S', m, n, work.data(), n, out.s.data(), out.u.data(), out.r,
                                    out.vt.data(), n);
    if (info > 0) {  // divide and conquer did not converge: the QR-iteration driver
        work.assign(a, a + size_t(m) * n);
        std::vector<R> superb(size_t(std::max(1, out.r)));
        if constexpr (std::is_same_v<R, double>)
            info = scipy_LAPACKE_zgesvd(LAPACK_ROW_MAJOR, 'S', 'S', m, n, work.data(), n, out.s.data(), out.u.data(),
                                        out.r, out.vt.data(), n, superb.data());
        else
            info = scipy_LAPACKE_cgesvd(LAPACK_ROW_MAJOR, 'S', 'S', m, n, work.data(), n, out.s.data(), out.u.data(),
                                        out.r, out.vt.data(), n, superb.data());
    }
    if (info != 0) throw InvalidInput("mps: the SVD of a " + std::to_string(m) + " x " + std::to_string(n) +
                                      " bond matrix failed (LAPACK info " + std::to_string(info) + ")");
}

// Singular values below this fraction of the largest are rounding noise: always dropped.
template <class R>
constexpr double zero_threshold() { return std::is_same_v<R, double> ? 1e-14 : 1e-6; }

struct Cut {
    int kept = 1;
    double eps = 0.0;        // discarded weight / total weight
    bool truncated = false;  // max_bond or cutoff cut more than rounding noise
};

template <class R>
Cut choose_kept(const std::vector<R>& s, const Options& o, bool exact_only) {
    double total = 0;
    for (R v : s) total += double(v) * double(v);
    Cut cut;
    int k = static_cast<int>(s.size());
    if (total <= 0 || k == 0) return cut;
    const double floor = zero_threshold<R>() * double(s[0]);
    while (k > 1 && double(s[size_t(k - 1)]) <= floor) --k;
    const int k0 = k;
    if (!exact_only) {
        if (o.cutoff > 0) {
            const double budget = o.relative ? o.cutoff * total : o.cutoff;
            double acc = 0;
            for (int j = k; j < int(s.size()); ++j) acc += double(s[size_t(j)]) * double(s[size_t(j)]);
            while (k > 1 && acc + double(s[size_t(k - 1)]) * double(s[size_t(k - 1)]) <= budget) {
                acc += double(s[size_t(k - 1)]) * double(s[size_t(k - 1)]);
                --k;
            }
        }
        if (o.max_bond > 0) k = std::min(k, o.max_bond);
    }
    double disc = 0;
    for (int j = k; j < int(s.size()); ++j) disc += double(s[size_t(j)]) * double(s[size_t(j)]);
    cut.kept = k;
    cut.eps = disc / total;
    cut.truncated = k < k0;
    return cut;
}

template <class R>
struct Site {
    int dl = 1, d = 2, dr = 1;
    std::vector<C<R>> t;  // [a, s, b]
    size_t size() const { return size_t(dl) * d * dr; }
};

template <class R>
struct State {
    std::vector<Site<R>> s;
    double discarded = 0, fidelity = 1, error = 0;
    int max_bond = 1;
    bool truncated = false;

    void record(double eps) {
        if (eps <= 0) return;
        discarded += eps;
        fidelity *= (1.0 - eps);
        error += std::sqrt(std::max(0.0, 2.0 - 2.0 * std::sqrt(std::max(0.0, 1.0 - eps))));
    }
    void info(double* out) const {
        out[0] = discarded;
        out[1] = fidelity;
        out[2] = error;
        out[3] = max_bond;
    }
};

template <class R>
State<R> product_state(int n) {
    State<R> st;
    st.s.resize(static_cast<size_t>(n));
    for (auto& site : st.s) {
        site.t.assign(2, C<R>(0));
        site.t[0] = C<R>(1);
    }
    return st;
}

// The result of a split: X (m x k) and Y (k x n) with X Y the kept part of M.
//   right: X = U_k (left-orthonormal), Y = S_k V_k^H        left: X = U_k S_k, Y = V_k^H (right-orthonormal)
template <class R>
void split(int m, int n, const C<R>* M, bool right, const Options& o, bool exact_only, Svd<R>& f, Cut& cut,
           std::vector<C<R>>& X, std::vector<C<R>>& Y) {
    svd(m, n, M, f);
    cut = choose_kept(f.s, o, exact_only);
    const int k = cut.kept, r = f.r;
    X.resize(size_t(m) * k);
    Y.resize(size_t(k) * n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < k; ++j) X[size_t(i) * k + j] = f.u[size_t(i) * r + j] * (right ? R(1) : f.s[size_t(j)]);
    for (int j = 0; j < k; ++j)
        for (int c = 0; c < n; ++c) Y[size_t(j) * n + c] = f.vt[size_t(j) * n + c] * (right ? f.s[size_t(j)] : R(1));
}

// Cotangent of M through a right split (X = U_k, Y = U_k^H M), given those of X and Y (G = 2 dL/d conj).
// With H = M M^H = U Lambda U^H, the kept columns move as du_i = sum_{j != i} u_j (u_j^H dH u_i) /
// (l_i - l_j) + N dH u_i / l_i (N: the null space of M^H). The kept-kept terms cancel because the loss is
// invariant under U_k -> U_k W, so with G_U = G_X + M G_Y^H, C = U^H G_U and
//   W = (G_U - U C) Lambda_k^-1 + U_d (F o C_d),   F_ji = 1 / (l_i - l_j)   (j discarded, i kept)
// the cotangent is G_M = U_k G_Y + W Y + U_k (W^H M).
template <class R>
void split_right_backward(int m, int n, const C<R>* M, const Svd<R>& f, int k, const C<R>* GX, const C<R>* GY,
                          C<R>* GM) {
    const int r = f.r;
    const C<R> one(1), zero(0);
    std::vector<C<R>> Uk(size_t(m) * k), Y(size_t(k) * n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < k; ++j) Uk[size_t(i) * k + j] = f.u[size_t(i) * r + j];
    for (int j = 0; j < k; ++j)
        for (int c = 0; c < n; ++c) Y[size_t(j) * n + c] = f.vt[size_t(j) * n + c] * f.s[size_t(j)];
    std::vector<C<R>> GU(GX, GX + size_t(m) * k);
    gemm<R>(Tr::N, Tr::H, m, k, n, one, M, n, GY, n, one, GU.data(), k);  // + M G_Y^H
    std::vector<C<R>> Cm(size_t(r) * k);
    gemm<R>(Tr::H, Tr::N, r, k, m, one, f.u.data(), r, GU.data(), k, zero, Cm.data(), k);
    std::vector<C<R>> W(GU);
    gemm<R>(Tr::N, Tr::N, m, k, r, C<R>(-1), f.u.data(), r, Cm.data(), k, one, W.data(), k);  // N G_U
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < k; ++j) {
            const R l = f.s[size_t(j)] * f.s[size_t(j)];
            W[size_t(i) * k + j] /= l;
        }
    if (r > k) {
        std::vector<C<R>> FC(size_t(r - k) * k);
        for (int j = k; j < r; ++j)
            for (int i = 0; i < k; ++i) {
                const R li = f.s[size_t(i)] * f.s[size_t(i)], lj = f.s[size_t(j)] * f.s[size_t(j)];
                FC[size_t(j - k) * k + i] = Cm[size_t(j) * k + i] / (li - lj);
            }
        gemm<R>(Tr::N, Tr::N, m, k, r - k, one, f.u.data() + k, r, FC.data(), k, one, W.data(), k);
    }
    gemm<R>(Tr::N, Tr::N, m, n, k, one, Uk.data(), k, GY, n, zero, GM, n);
    gemm<R>(Tr::N, Tr::N, m, n, k, one, W.data(), k, Y.data(), n, one, GM, n);
    // W^H M = (F o C_d)^H S_d V_d^H: the null-space part of W drops out (N M = 0), so it is not multiplied
    // by M, where its rounding (eps s_max / s_i^2) would be all it added; discarded singular values at the
    // rounding floor count as zero for the same reason.
    if (r > k) {
        std::vector<C<R>> SV(size_t(r - k) * n, C<R>(0)), WM(size_t(k) * n);
        const double floor = zero_threshold<R>() * double(f.s[0]);
        for (int j = k; j < r; ++j) {
            if (double(f.s[size_t(j)]) <= floor) continue;
            for (int c = 0; c < n; ++c) SV[size_t(j - k) * n + c] = f.vt[size_t(j) * n + c] * f.s[size_t(j)];
        }
        std::vector<C<R>> FC(size_t(r - k) * k);
        for (int j = k; j < r; ++j)
            for (int i = 0; i < k; ++i) {
                const R li = f.s[size_t(i)] * f.s[size_t(i)], lj = f.s[size_t(j)] * f.s[size_t(j)];
                FC[size_t(j - k) * k + i] = Cm[size_t(j) * k + i] / (li - lj);
            }
        gemm<R>(Tr::H, Tr::N, k, n, r - k, one, FC.data(), k, SV.data(), n, zero, WM.data(), n);
        gemm<R>(Tr::N, Tr::N, m, n, k, one, Uk.data(), k, WM.data(), n, one, GM, n);
    }
}

template <class R>
std::vector<C<R>> adjoint_of(int m, int n, const C<R>* a) {  // (n x m) = a^H
    std::vector<C<R>> out(size_t(m) * n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) out[size_t(j) * m + i] = std::conj(a[size_t(i) * n + j]);
    return out;
}

// A left split of M is the right split of M^H with X and Y exchanged and adjointed.
template <class R>
void split_backward(int m, int n, const C<R>* M, const Svd<R>& f, int k, bool right, const C<R>* GX,
                    const C<R>* GY, C<R>* GM) {
    if (right) {
        split_right_backward(m, n, M, f, k, GX, GY, GM);
        return;
    }
    Svd<R> g;
    g.m = n;
    g.n = m;
    g.r = f.r;
    g.s = f.s;
    g.u = adjoint_of(f.r, n, f.vt.data());   // V (n x r)
    g.vt = adjoint_of(m, f.r, f.u.data());   // U^H (r x m)
    auto Mh = adjoint_of(m, n, M);
    auto GXh = adjoint_of(k, n, GY);  // G of X' = Y^H (n x k)
    auto GYh = adjoint_of(m, k, GX);  // G of Y' = X^H (k x m)
    std::vector<C<R>> GMh(size_t(n) * m);
    split_right_backward(n, m, Mh.data(), g, k, GXh.data(), GYh.data(), GMh.data());
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < m; ++j) GM[size_t(j) * n + i] = std::conj(GMh[size_t(i) * m + j]);
}

// T'[a, s, b] = sum_s' G[s, s'] T[a, s', b]  (G: d x d row-major, double precision).
template <class R>
void apply_physical(const std::vector<cplx>& G, Site<R>& t) {
    const int d = t.d, dr = t.dr;
    std::vector<C<R>> g(G.size());
    for (size_t i = 0; i < G.size(); ++i) g[i] = C<R>(G[i]);
    std::vector<C<R>> tmp(size_t(d) * dr);
    for (int a = 0; a < t.dl; ++a) {
        C<R>* blk = t.t.data() + size_t(a) * d * dr;
        std::fill(tmp.begin(), tmp.end(), C<R>(0));
        for (int s = 0; s < d; ++s)
            for (int sp = 0; sp < d; ++sp) {
                const C<R> gv = g[size_t(s) * d + sp];
                if (gv == C<R>(0)) continue;
                const C<R>* src = blk + size_t(sp) * dr;
                C<R>* dst = tmp.data() + size_t(s) * dr;
                for (int b = 0; b < dr; ++b) dst[b] += gv * src[b];
            }
        std::copy(tmp.begin(), tmp.end(), blk);
    }
}

// Re sum conj(G'[a, s, b]) (D T)[a, s, b]: the derivative of the loss along a gate-matrix direction D.
template <class R>
double physical_inner(const std::vector<cplx>& D, const Site<R>& T, const C<R>* Gp) {
    const int d = T.d, dr = T.dr;
    double acc = 0;
    for (int a = 0; a < T.dl; ++a) {
        const C<R>* blk = T.t.data() + size_t(a) * d * dr;
        const C<R>* gb = Gp + size_t(a) * d * dr;
        for (int s = 0; s < d; ++s)
            for (int sp = 0; sp < d; ++sp) {
                const cplx dv = D[size_t(s) * d + sp];
                if (dv == cplx(0)) continue;
                std::complex<double> sum = 0;
                for (int b = 0; b < dr; ++b)
                    sum += std::complex<double>(std::conj(gb[size_t(s) * dr + b])) * std::complex<double>(blk[size_t(sp) * dr + b]);
                acc += (dv * sum).real();
            }
    }
    return acc;
}

// (dl, d1, D) x (D, d2, dr) -> (dl, d1 d2, dr)
template <class R>
Site<R> merge(const Site<R>& L, const Site<R>& Rt) {
    Site<R> out;
    out.dl = L.dl;
    out.d = L.d * Rt.d;
    out.dr = Rt.dr;
    out.t.resize(out.size());
    gemm<R>(Tr::N, Tr::N, L.dl * L.d, Rt.d * Rt.dr, L.dr, C<R>(1), L.t.data(), L.dr, Rt.t.data(), Rt.d * Rt.dr,
            C<R>(0), out.t.data(), Rt.d * Rt.dr);
    return out;
}

// Cotangents of the operands of a merge.
template <class R>
void merge_backward(const Site<R>& L, const Site<R>& Rt, const C<R>* G, std::vector<C<R>>& GL, std::vector<C<R>>& GR) {
    const int m = L.dl * L.d, k = L.dr, n = Rt.d * Rt.dr;
    GL.assign(size_t(m) * k, C<R>(0));
    GR.assign(size_t(k) * n, C<R>(0));
    gemm<R>(Tr::N, Tr::H, m, k, n, C<R>(1), G, n, Rt.t.data(), n, C<R>(0), GL.data(), k);
    gemm<R>(Tr::H, Tr::N, k, n, m, C<R>(1), L.t.data(), k, G, n, C<R>(0), GR.data(), n);
}

// Pauli letter as (flip, phase of row 0, phase of row 1): B[s'] = P[s', s'^flip] A[s'^flip].
struct PauliAction {
    int flip = 0;
    cplx ph[2] = {1.0, 1.0};
};
inline PauliAction pauli_action(char p) {
    PauliAction a;
    switch (p) {
        case 'X': a.flip = 1; break;
        case 'Y': a.flip = 1; a.ph[0] = cplx(0, -1); a.ph[1] = cplx(0, 1); break;
        case 'Z': a.ph[1] = -1.0; break;
        default: break;
    }
    return a;
}

// Left environment step: E' = sum_s' A[s']^H E B[s'],  E: dl x dl (bra rows, ket columns) -> dr x dr.
template <class R>
void transfer_left(const Site<R>& A, const C<R>* E, const PauliAction& p, C<R>* out, std::vector<C<R>>& tmp) {
    const int dl = A.dl, dr = A.dr, ld = A.d * A.dr;
    tmp.resize(size_t(dl) * dr);
    for (int sp = 0; sp < 2; ++sp) {
        const int s = sp ^ p.flip;
        gemm<R>(Tr::N, Tr::N, dl, dr, dl, C<R>(p.ph[sp]), E, dl, A.t.data() + size_t(s) * dr, ld, C<R>(0), tmp.data(), dr);
        gemm<R>(Tr::H, Tr::N, dr, dr, dl, C<R>(1), A.t.data() + size_t(sp) * dr, ld, tmp.data(), dr,
                C<R>(sp == 0 ? 0 : 1), out, dr);
    }
}

// Right environment step: F = sum_s' B[s'] F' A[s']^H,  F': dr x dr (ket rows, bra columns) -> dl x dl.
template <class R>
void transfer_right(const Site<R>& A, const C<R>* F, const PauliAction& p, C<R>* out, std::vector<C<R>>& tmp) {
    const int dl = A.dl, dr = A.dr, ld = A.d * A.dr;
    tmp.resize(size_t(dl) * dr);
    for (int sp = 0; sp < 2; ++sp) {
        const int s = sp ^ p.flip;
        gemm<R>(Tr::N, Tr::N, dl, dr, dr, C<R>(p.ph[sp]), A.t.data() + size_t(s) * dr, ld, F, dr, C<R>(0), tmp.data(), dr);
        gemm<R>(Tr::N, Tr::H, dl, dl, dr, C<R>(1), tmp.data(), dr, A.t.data() + size_t(sp) * dr, ld,
                C<R>(sp == 0 ? 0 : 1), out, dl);
    }
}

// <psi|P|psi> (letters per site, 'I' where absent) by left transfers.
template <class R>
std::complex<double> pauli_value(const State<R>& st, const std::string& letters) {
    std::vector<C<R>> E(1, C<R>(1)), next, tmp;
    for (size_t i = 0; i < st.s.size(); ++i) {
        const auto& A = st.s[i];
        next.assign(size_t(A.dr) * A.dr, C<R>(0));
        transfer_left(A, E.data(), pauli_action(letters[i]), next.data(), tmp);
        E.swap(next);
    }
    return std::complex<double>(E[0]);
}

}  // namespace pyqml::mps::detail
