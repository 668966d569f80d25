#pragma once
// Kernels of the two-wire fused blocks (cpp/src/statevector/fusion.cpp): a dense 4x4 on two bits over
// contiguous runs of amplitude quadruples (vectorised, multi-versioned like the 2x2 kernels), and the
// adjoint sweep's one-pass step of a 4x4 block: un-apply it to psi, accumulate the 4x4 local overlap
// G_rc = sum_groups conj(lam[group, r]) psi[group, c] with lam, un-apply it to lam.
//
// A block's local index is r = 2 * (bit bh) + (bit bl): bh is its first (high) bit. Matrices are row-major
// 4x4 complex; G is accumulated in double for both precisions.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <type_traits>

#include "pyqml/common/types.hpp"
#include "pyqml/statevector/apply_gate.hpp"

namespace pyqml::sv {

// Below this run length (the lower of the two bits under 2) the quadruples are too short for the run
// kernels: a per-group loop takes them.
inline constexpr int kFusedRunMinBit = 2;

// y = M x for one quadruple in real arithmetic, M split into its real and imaginary parts (row-major):
// the baseline 4x4 complex mat-vec of dense2_run and adjoint_run2 (inlined into their loops, which the
// compiler vectorises across quadruples).
template <class F>
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void mat4_scalar(const F* mr, const F* mi, const F* xr, const F* xi, F* yr, F* yi) {
    for (int r = 0; r < 4; ++r) {
        F sr = 0, si = 0;
        for (int k = 0; k < 4; ++k) {
            sr += mr[4 * r + k] * xr[k] - mi[4 * r + k] * xi[k];
            si += mr[4 * r + k] * xi[k] + mi[4 * r + k] * xr[k];
        }
        yr[r] = sr;
        yi[r] = si;
    }
}

// The 4x4 matrix m ((re, im) x 16, row-major) on one contiguous run of quadruples (a[j], b[j], c[j], d[j])
// (local indices 0..3), in real arithmetic on interleaved (re, im) values so that the compiler vectorises it.
template <class F>
PYQML_SIMD_CLONES void dense2_run(F* __restrict a, F* __restrict b, F* __restrict c, F* __restrict d, index_t len,
                                  const F* m) {
    F mr[16], mi[16];
    for (int i = 0; i < 16; ++i) {
        mr[i] = m[2 * i];
        mi[i] = m[2 * i + 1];
    }
    for (index_t j = 0; j < len; ++j) {
        const F xr[4] = {a[2 * j], b[2 * j], c[2 * j], d[2 * j]};
        const F xi[4] = {a[2 * j + 1], b[2 * j + 1], c[2 * j + 1], d[2 * j + 1]};
        F yr[4], yi[4];
        mat4_scalar(mr, mi, xr, xi, yr, yi);
        a[2 * j] = yr[0]; a[2 * j + 1] = yi[0];
        b[2 * j] = yr[1]; b[2 * j + 1] = yi[1];
        c[2 * j] = yr[2]; c[2 * j + 1] = yi[2];
        d[2 * j] = yr[3]; d[2 * j + 1] = yi[3];
    }
}

// Offsets of the four local indices of a block on bits (bh, bl).
inline void quad_offsets(int bh, int bl, index_t* off) {
    off[0] = 0;
    off[1] = index_t(1) << bl;
    off[2] = index_t(1) << bh;
    off[3] = off[1] | off[2];
}

// complex128 runs as GCC vectors of two complex values (re0, im0, re1, im1): a product with a complex
// constant m is x * (mr, mr, mr, mr) + swap(x) * (-mi, mi, -mi, mi), one multiply and one FMA per two
// amplitudes; the clones make these AVX2 (or SSE2) instructions.
typedef double v2c __attribute__((vector_size(4 * sizeof(double)), aligned(8)));
// The run kernels below are compiled twice, for AVX2 with FMA and for the baseline, and picked at run time
// (target_clones' "avx2" clone has no FMA, which these kernels live on).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD)
#define PYQML_FUSED_FMA 1
#define PYQML_FUSED_INLINE __attribute__((always_inline)) inline
inline bool fused_have_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#else
#define PYQML_FUSED_FMA 0
#define PYQML_FUSED_INLINE inline
inline bool fused_have_fma() { return false; }
#endif
typedef long long v2c_mask __attribute__((vector_size(4 * sizeof(long long))));

PYQML_FUSED_INLINE v2c v2c_load(const double* p) {
    v2c v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}
PYQML_FUSED_INLINE void v2c_store(double* p, v2c v) { __builtin_memcpy(p, &v, sizeof(v)); }
PYQML_FUSED_INLINE v2c v2c_swap(v2c v) { return __builtin_shuffle(v, v2c_mask{1, 0, 3, 2}); }

// The 4x4 matrix as broadcast vectors: re[16] = (mr, mr, mr, mr), ims[16] = (-mi, mi, -mi, mi).
struct Mat4Vec {
    v2c re[16], ims[16];
    explicit Mat4Vec(const double* m) {
        for (int i = 0; i < 16; ++i) {
            const double a = m[2 * i], b = m[2 * i + 1];
            re[i] = v2c{a, a, a, a};
            ims[i] = v2c{-b, b, -b, b};
        }
    }
};

PYQML_FUSED_INLINE void mat4_apply(const Mat4Vec& M, const v2c* x, v2c* y) {
    v2c xs[4];
    for (int c = 0; c < 4; ++c) xs[c] = v2c_swap(x[c]);
    for (int r = 0; r < 4; ++r) {
        v2c s = x[0] * M.re[4 * r] + xs[0] * M.ims[4 * r];
        for (int c = 1; c < 4; ++c) s += x[c] * M.re[4 * r + c] + xs[c] * M.ims[4 * r + c];
        y[r] = s;
    }
}

// Where a run's quadruples lie. Layout 0: local index r at p[r] + 2 j (both bits at least 1; two
// quadruples per step). Layouts 1 and 2: one bit is bit 0, so a quadruple's amplitudes are pairs of
// neighbours: p[0] runs over the half with the other bit clear, p[1] over the half with it set, each step
// reads two neighbouring pairs of each half and splits them into even (bit 0 clear) and odd amplitudes;
// layout 1 has bit 0 as the block's low bit (r = 2 * other + bit0), layout 2 as its high bit.
template <int Layout>
PYQML_FUSED_INLINE void quad_load(double* const* p, index_t i, v2c* x) {
    if constexpr (Layout == 0) {
        for (int r = 0; r < 4; ++r) x[r] = v2c_load(p[r] + 4 * i);
    } else {
        v2c e[2], o[2];
        for (int h = 0; h < 2; ++h) {
            const v2c v0 = v2c_load(p[h] + 8 * i), v1 = v2c_load(p[h] + 8 * i + 4);
            e[h] = __builtin_shuffle(v0, v1, v2c_mask{0, 1, 4, 5});
            o[h] = __builtin_shuffle(v0, v1, v2c_mask{2, 3, 6, 7});
        }
        if constexpr (Layout == 1) {
            x[0] = e[0]; x[1] = o[0]; x[2] = e[1]; x[3] = o[1];
        } else {
            x[0] = e[0]; x[1] = e[1]; x[2] = o[0]; x[3] = o[1];
        }
    }
}

template <int Layout>
PYQML_FUSED_INLINE void quad_store(double* const* p, index_t i, const v2c* x) {
    if constexpr (Layout == 0) {
        for (int r = 0; r < 4; ++r) v2c_store(p[r] + 4 * i, x[r]);
    } else {
        for (int h = 0; h < 2; ++h) {
            const v2c e = Layout == 1 ? x[2 * h] : x[h], o = Layout == 1 ? x[2 * h + 1] : x[2 + h];
            v2c_store(p[h] + 8 * i, __builtin_shuffle(e, o, v2c_mask{0, 1, 4, 5}));
            v2c_store(p[h] + 8 * i + 4, __builtin_shuffle(e, o, v2c_mask{2, 3, 6, 7}));
        }
    }
}

// The layout of a complex128 block on bits (bh, bl), or -1 when neither run layout applies (bits 0 and 1).
inline int quad_layout(int bh, int bl) {
    if (std::min(bh, bl) >= 1) return 0;
    if (std::max(bh, bl) < 2) return -1;
    return bl == 0 ? 1 : 2;
}

// Visits the runs of a complex128 block on bits (bh, bl) (quad_layout >= 0): body(r, p, steps) with the
// run's pointers (layout 0: four, else two) and its step count, for r in [0, count).
struct QuadRuns {
    int layout, q;
    int sorted[2];
    index_t off[4], len;
    int64_t count;
    QuadRuns(int n, int bh, int bl) : layout(quad_layout(bh, bl)) {
        constexpr index_t kRun = 1024;
        sorted[0] = std::min(bh, bl);
        sorted[1] = std::max(bh, bl);
        quad_offsets(bh, bl, off);
        q = sorted[1];
        if (layout == 0) {
            len = std::min(index_t(1) << sorted[0], kRun);
            count = int64_t((index_t(1) << (n - 2)) / len);
        } else {
            len = std::min(index_t(1) << q, kRun);  // amplitudes of each half per run
            count = int64_t((index_t(1) << (n - 1)) / len);
        }
    }
    index_t steps() const { return layout == 0 ? len / 2 : len / 4; }
    void pointers(double* base, int64_t r, double** p) const {
        if (layout == 0) {
            const index_t b0 = insert_zero_bits(index_t(r) * len, sorted, 2);
            for (int k = 0; k < 4; ++k) p[k] = base + 2 * (b0 | off[k]);
        } else {
            const index_t stride = index_t(1) << q;
            const index_t g0 = index_t(r) * len;
            const index_t i0 = ((g0 >> q) << (q + 1)) | (g0 & (stride - 1));
            p[0] = base + 2 * i0;
            p[1] = base + 2 * (i0 + stride);
        }
    }
};

// Run groups: each kernel call takes runs [r0, r1) of a QuadRuns (at least a few hundred amplitudes, so
// that short runs of low bits do not pay a call, zeroed sums and a reduction each).
inline int64_t quad_runs_per_call(const QuadRuns& R) {
    const index_t amps = R.layout == 0 ? 4 * R.len : 2 * R.len;
    return std::max<int64_t>(1, int64_t(512 / std::max<index_t>(amps, 1)));
}

template <int Layout>
PYQML_FUSED_INLINE void dense2_body(const QuadRuns& R, double* base, int64_t r0, int64_t r1, const Mat4Vec& M) {
    const index_t steps = R.steps();
    for (int64_t run = r0; run < r1; ++run) {
        double* p[4];
        R.pointers(base, run, p);
        for (index_t i = 0; i < steps; ++i) {
            v2c x[4], y[4];
            quad_load<Layout>(p, i, x);
            mat4_apply(M, x, y);
            quad_store<Layout>(p, i, y);
        }
    }
}

// The overlap of a chunk of buffered steps, row by row of G with eight sums in registers (sixteen would
// spill): A += lam_r * psi_c and B += lam_r * swap(psi_c).
constexpr int kQuadChunk = 16;
PYQML_FUSED_INLINE void quad_overlap_chunk(const v2c (*yb)[kQuadChunk], const v2c (*ysb)[kQuadChunk],
                                           const v2c (*lb)[kQuadChunk], int m, v2c* A, v2c* B) {
    for (int r = 0; r < 4; ++r) {
        v2c a0 = A[4 * r], a1 = A[4 * r + 1], a2 = A[4 * r + 2], a3 = A[4 * r + 3];
        v2c b0 = B[4 * r], b1 = B[4 * r + 1], b2 = B[4 * r + 2], b3 = B[4 * r + 3];
        for (int t = 0; t < m; ++t) {
            const v2c L = lb[r][t];
            a0 += L * yb[0][t]; b0 += L * ysb[0][t];
            a1 += L * yb[1][t]; b1 += L * ysb[1][t];
            a2 += L * yb[2][t]; b2 += L * ysb[2][t];
            a3 += L * yb[3][t]; b3 += L * ysb[3][t];
        }
        A[4 * r] = a0; A[4 * r + 1] = a1; A[4 * r + 2] = a2; A[4 * r + 3] = a3;
        B[4 * r] = b0; B[4 * r + 1] = b1; B[4 * r + 2] = b2; B[4 * r + 3] = b3;
    }
}

// adjoint_run2 for complex128 on vectors over runs [r0, r1), two quadruples per step: the updated psi (and
// its swap) and lam go into small buffers (L1) for kQuadChunk steps, then quad_overlap_chunk adds their
// overlap. Re conj(lam_r) psi_c is the sum of A's lanes, Im = B0 - B1 + B2 - B3.
template <int Layout, bool UpdatePsi, bool UpdateLam>
PYQML_FUSED_INLINE void adjoint2_body(const QuadRuns& R, double* P, double* Lm, int64_t r0, int64_t r1,
                                      const Mat4Vec& M, double* s) {
    v2c A[16], B[16];
    for (int i = 0; i < 16; ++i) A[i] = B[i] = v2c{0, 0, 0, 0};
    v2c yb[4][kQuadChunk], ysb[4][kQuadChunk], lb[4][kQuadChunk];
    int t = 0;
    const index_t steps = R.steps();
    for (int64_t run = r0; run < r1; ++run) {
        double *p[4], *l[4];
        R.pointers(P, run, p);
        R.pointers(Lm, run, l);
        for (index_t i = 0; i < steps; ++i) {
            v2c x[4], y[4], lam[4];
            quad_load<Layout>(p, i, x);
            if constexpr (UpdatePsi) {
                mat4_apply(M, x, y);
                quad_store<Layout>(p, i, y);
            } else {
                for (int r = 0; r < 4; ++r) y[r] = x[r];
            }
            quad_load<Layout>(l, i, lam);
            for (int r = 0; r < 4; ++r) {
                yb[r][t] = y[r];
                ysb[r][t] = v2c_swap(y[r]);
                lb[r][t] = lam[r];
            }
            if constexpr (UpdateLam) {
                v2c out[4];
                mat4_apply(M, lam, out);
                quad_store<Layout>(l, i, out);
            }
            if (++t == kQuadChunk) {
                quad_overlap_chunk(yb, ysb, lb, t, A, B);
                t = 0;
            }
        }
    }
    if (t) quad_overlap_chunk(yb, ysb, lb, t, A, B);
    for (int i = 0; i < 16; ++i) {
        s[2 * i] += (A[i][0] + A[i][1]) + (A[i][2] + A[i][3]);
        s[2 * i + 1] += (B[i][0] - B[i][1]) + (B[i][2] - B[i][3]);
    }
}

template <int Layout>
void dense2_run_base(const QuadRuns& R, double* base, int64_t r0, int64_t r1, const Mat4Vec& M) {
    dense2_body<Layout>(R, base, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run2_base(const QuadRuns& R, double* P, double* L, int64_t r0, int64_t r1, const Mat4Vec& M, double* s) {
    adjoint2_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#if PYQML_FUSED_FMA
template <int Layout>
__attribute__((target("avx2,fma"))) void dense2_run_fma(const QuadRuns& R, double* base, int64_t r0, int64_t r1,
                                                         const Mat4Vec& M) {
    dense2_body<Layout>(R, base, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
__attribute__((target("avx2,fma"))) void adjoint_run2_fma(const QuadRuns& R, double* P, double* L, int64_t r0,
                                                          int64_t r1, const Mat4Vec& M, double* s) {
    adjoint2_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#endif
template <int Layout>
void dense2_run_v(const QuadRuns& R, double* base, int64_t r0, int64_t r1, const Mat4Vec& M) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return dense2_run_fma<Layout>(R, base, r0, r1, M);
#endif
    dense2_run_base<Layout>(R, base, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run2_v(const QuadRuns& R, double* P, double* L, int64_t r0, int64_t r1, const Mat4Vec& M, double* s) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return adjoint_run2_fma<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
#endif
    adjoint_run2_base<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}


// Dense 4x4 on bits (bh, bl): runs when both bits are at least kFusedRunMinBit, else apply_dense2's
// per-group loop.
template <class F>
void apply_fused2(amp_t<F>* psi, int n, int bh, int bl, const cplx* m, bool par) {
    if constexpr (std::is_same_v<F, double>) {
        if (n >= kRunMinWires && quad_layout(bh, bl) >= 0) {
            double mm[32];
            for (int i = 0; i < 16; ++i) {
                mm[2 * i] = m[i].real();
                mm[2 * i + 1] = m[i].imag();
            }
            const Mat4Vec M(mm);
            const QuadRuns runs(n, bh, bl);
            double* base = reinterpret_cast<double*>(psi);
            const int64_t per = quad_runs_per_call(runs);
            const int64_t calls = (runs.count + per - 1) / per;
            for_range(calls, par, [&](int64_t c) {
                const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
                if (runs.layout == 0) dense2_run_v<0>(runs, base, r0, r1, M);
                else if (runs.layout == 1) dense2_run_v<1>(runs, base, r0, r1, M);
                else dense2_run_v<2>(runs, base, r0, r1, M);
            });
            return;
        }
    }
    if (std::min(bh, bl) < kFusedRunMinBit || n < kRunMinWires) {
        apply_dense2<F>(psi, n, bh, bl, m, par);
        return;
    }
    F mm[32];
    for (int i = 0; i < 16; ++i) {
        mm[2 * i] = F(m[i].real());
        mm[2 * i + 1] = F(m[i].imag());
    }
    index_t off[4];
    quad_offsets(bh, bl, off);
    F* base = reinterpret_cast<F*>(psi);
    for_runs2(n, bh, bl, par, [&](index_t b0, index_t len) {
        dense2_run<F>(base + 2 * b0, base + 2 * (b0 | off[1]), base + 2 * (b0 | off[2]), base + 2 * (b0 | off[3]),
                      len, mm);
    });
}

// The inner loop of adjoint_step2 over one run: p[r] and l[r] point at local index r of psi and lam;
// adds the overlap to s[0..32) ((re, im) of G_rc at 2 (4 r + c)). m = U^dag as (re, im) x 16.
template <class F, bool UpdatePsi, bool UpdateLam>
PYQML_SIMD_CLONES void adjoint_run2(F* __restrict p0, F* __restrict p1, F* __restrict p2, F* __restrict p3,
                                    F* __restrict l0, F* __restrict l1, F* __restrict l2, F* __restrict l3,
                                    index_t len, const F* m, double* s) {
    F mr[16], mi[16];
    for (int i = 0; i < 16; ++i) {
        mr[i] = m[2 * i];
        mi[i] = m[2 * i + 1];
    }
    double g[32] = {};
#pragma omp simd reduction(+ : g[:32])
    for (index_t j = 0; j < len; ++j) {
        F xr[4] = {p0[2 * j], p1[2 * j], p2[2 * j], p3[2 * j]};
        F xi[4] = {p0[2 * j + 1], p1[2 * j + 1], p2[2 * j + 1], p3[2 * j + 1]};
        if constexpr (UpdatePsi) {
            F yr[4], yi[4];
            mat4_scalar(mr, mi, xr, xi, yr, yi);
            for (int r = 0; r < 4; ++r) {
                xr[r] = yr[r];
                xi[r] = yi[r];
            }
            p0[2 * j] = xr[0]; p0[2 * j + 1] = xi[0];
            p1[2 * j] = xr[1]; p1[2 * j + 1] = xi[1];
            p2[2 * j] = xr[2]; p2[2 * j + 1] = xi[2];
            p3[2 * j] = xr[3]; p3[2 * j + 1] = xi[3];
        }
        F lr[4] = {l0[2 * j], l1[2 * j], l2[2 * j], l3[2 * j]};
        F li[4] = {l0[2 * j + 1], l1[2 * j + 1], l2[2 * j + 1], l3[2 * j + 1]};
        // conj(lam_r) * psi_c
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
                g[2 * (4 * r + c)] += double(lr[r] * xr[c] + li[r] * xi[c]);
                g[2 * (4 * r + c) + 1] += double(lr[r] * xi[c] - li[r] * xr[c]);
            }
        if constexpr (UpdateLam) {
            F yr[4], yi[4];
            mat4_scalar(mr, mi, lr, li, yr, yi);
            l0[2 * j] = yr[0]; l0[2 * j + 1] = yi[0];
            l1[2 * j] = yr[1]; l1[2 * j + 1] = yi[1];
            l2[2 * j] = yr[2]; l2[2 * j + 1] = yi[2];
            l3[2 * j] = yr[3]; l3[2 * j + 1] = yi[3];
        }
    }
    for (int i = 0; i < 32; ++i) s[i] += g[i];
}

// One backward step of the adjoint method for a 4x4 block on bits (bh, bl) in a single pass over both
// states: psi <- U^dag psi (if update_psi), G <- overlap(lam, psi), lam <- U^dag lam (if update_lam);
// `uinv` is U^dag (16 entries), G receives 16. Reproducible for a given thread count (reduce_range).
template <class F>
void adjoint_step2(amp_t<F>* psi, amp_t<F>* lam, int n, int bh, int bl, const cplx* uinv, bool update_psi,
                   bool update_lam, cplx* G, bool par) {
    index_t off[4];
    quad_offsets(bh, bl, off);
    const int sorted[2] = {std::min(bh, bl), std::max(bh, bl)};
    double acc[32] = {};
    if (std::is_same_v<F, double> && n >= kRunMinWires && quad_layout(bh, bl) >= 0) {
        double md[32];
        for (int i = 0; i < 16; ++i) {
            md[2 * i] = uinv[i].real();
            md[2 * i + 1] = uinv[i].imag();
        }
        const Mat4Vec M(md);
        const QuadRuns runs(n, bh, bl);
        double* P = reinterpret_cast<double*>(psi);
        double* L = reinterpret_cast<double*>(lam);
        const int64_t per = quad_runs_per_call(runs);
        const int64_t calls = (runs.count + per - 1) / per;
        reduce_range<32>(calls, par, acc, [&](int64_t c, double* s) {
            const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
            auto go = [&](auto layout) {
                constexpr int Lay = decltype(layout)::value;
                if (update_psi) {
                    if (update_lam) adjoint_run2_v<Lay, true, true>(runs, P, L, r0, r1, M, s);
                    else adjoint_run2_v<Lay, true, false>(runs, P, L, r0, r1, M, s);
                } else {
                    if (update_lam) adjoint_run2_v<Lay, false, true>(runs, P, L, r0, r1, M, s);
                    else adjoint_run2_v<Lay, false, false>(runs, P, L, r0, r1, M, s);
                }
            };
            if (runs.layout == 0) go(std::integral_constant<int, 0>{});
            else if (runs.layout == 1) go(std::integral_constant<int, 1>{});
            else go(std::integral_constant<int, 2>{});
        });
    } else if (sorted[0] < kFusedRunMinBit || n < kRunMinWires) {
        amp_t<F> mm[16];
        for (int i = 0; i < 16; ++i) mm[i] = amp_t<F>(uinv[i]);
        reduce_range<32>(int64_t(1) << (n - 2), par, acc, [&](int64_t g, double* s) {
            const index_t base = insert_zero_bits(index_t(g), sorted, 2);
            amp_t<F> v[4], l[4];
            for (int r = 0; r < 4; ++r) v[r] = psi[base | off[r]];
            if (update_psi) {
                amp_t<F> y[4];
                for (int r = 0; r < 4; ++r)
                    y[r] = mm[4 * r] * v[0] + mm[4 * r + 1] * v[1] + mm[4 * r + 2] * v[2] + mm[4 * r + 3] * v[3];
                for (int r = 0; r < 4; ++r) psi[base | off[r]] = v[r] = y[r];
            }
            for (int r = 0; r < 4; ++r) l[r] = lam[base | off[r]];
            for (int r = 0; r < 4; ++r)
                for (int c = 0; c < 4; ++c) {
                    s[2 * (4 * r + c)] += double(l[r].real() * v[c].real() + l[r].imag() * v[c].imag());
                    s[2 * (4 * r + c) + 1] += double(l[r].real() * v[c].imag() - l[r].imag() * v[c].real());
                }
            if (update_lam)
                for (int r = 0; r < 4; ++r)
                    lam[base | off[r]] =
                        mm[4 * r] * l[0] + mm[4 * r + 1] * l[1] + mm[4 * r + 2] * l[2] + mm[4 * r + 3] * l[3];
        });
    } else {
        F m[32];
        for (int i = 0; i < 16; ++i) {
            m[2 * i] = F(uinv[i].real());
            m[2 * i + 1] = F(uinv[i].imag());
        }
        F* P = reinterpret_cast<F*>(psi);
        F* L = reinterpret_cast<F*>(lam);
        constexpr index_t kRun = 1024;
        const index_t len = std::min(index_t(1) << sorted[0], kRun);
        reduce_range<32>(int64_t((index_t(1) << (n - 2)) / len), par, acc, [&](int64_t r, double* s) {
            const index_t b0 = insert_zero_bits(index_t(r) * len, sorted, 2);
            F *p0 = P + 2 * b0, *p1 = P + 2 * (b0 | off[1]), *p2 = P + 2 * (b0 | off[2]), *p3 = P + 2 * (b0 | off[3]);
            F *q0 = L + 2 * b0, *q1 = L + 2 * (b0 | off[1]), *q2 = L + 2 * (b0 | off[2]), *q3 = L + 2 * (b0 | off[3]);
            if (update_psi) {
                if (update_lam) adjoint_run2<F, true, true>(p0, p1, p2, p3, q0, q1, q2, q3, len, m, s);
                else adjoint_run2<F, true, false>(p0, p1, p2, p3, q0, q1, q2, q3, len, m, s);
            } else {
                if (update_lam) adjoint_run2<F, false, true>(p0, p1, p2, p3, q0, q1, q2, q3, len, m, s);
                else adjoint_run2<F, false, false>(p0, p1, p2, p3, q0, q1, q2, q3, len, m, s);
            }
        });
    }
    for (int i = 0; i < 16; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

}  // namespace pyqml::sv
