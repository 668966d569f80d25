#pragma once
// Kernels of the two-wire fused blocks (cpp/src/statevector/fusion.cpp): a dense 4x4 on two bits over
// contiguous runs of amplitude quadruples (vectorised, multi-versioned like the 2x2 kernels), and the
// adjoint sweep's one-pass step of a 4x4 block: un-apply it to psi, accumulate the 4x4 local overlap
// G_rc = sum_groups conj(lam[group, r]) psi[group, c] with lam, un-apply it to lam.
//
// complex128 runs on vectors of two amplitudes, complex64 on vectors of four (and has 2x2 block kernels of
// its own, apply_fused1 / adjoint_step_fused1); both are compiled for AVX2 with FMA and for the baseline and
// picked at run time.
//
// A block's local index is r = 2 * (bit bh) + (bit bl): bh is its first (high) bit. Matrices are row-major
// 4x4 complex; G is accumulated in double for both precisions (complex64: in float over a few chunks of
// steps, then in double).
#include <algorithm>
#include <complex>
#include <cstdint>
#include <type_traits>

#include "pyqml/common/types.hpp"
#include "pyqml/statevector/apply_gate.hpp"
#include "pyqml/statevector/overlap.hpp"

namespace pyqml::sv {

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
#else
#define PYQML_FUSED_FMA 0
#define PYQML_FUSED_INLINE inline
#endif
// Whether the fused kernels may take their AVX2+FMA versions (default on; off runs the baseline versions on
// any CPU, for tests; fusion.cpp).
bool fused_fma_enabled();
void set_fused_fma_enabled(bool on);
inline bool fused_have_fma() {
#if PYQML_FUSED_FMA
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes && fused_fma_enabled();
#else
    return false;
#endif
}
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


// ---------------------------------------------------------------------------------------------------
// complex64 blocks: GCC vectors of four complex values (re0, im0, ..., re3, im3), the same product scheme
// (x * (mr, mr, ...) + swap(x) * (-mi, mi, ...)), four amplitudes per multiply and FMA. A step takes 16
// amplitudes, four vectors of four neighbouring amplitudes (bits 0 and 1 inside a vector), and splits them
// into x[r] = local index r of four groups. The block is taken in its canonical order (high bit = the
// larger bit; apply_fused2 / adjoint_step2 permute a matrix given the other way and its G back):
//   layout 0: both bits >= 2: x[r] is the vector at offset off[r] (no shuffles);
//   layout 1: low bit 0, high bit h >= 2: vectors at 0, 2^e, 2^h, 2^h + 2^e (e the lowest bit not in
//             {0, 1, h}), even and odd lanes split;
//   layout 2: low bit 1, high bit h >= 2: as layout 1, lane pairs (0, 1) and (2, 3) split;
//   layout 3: bits 0 and 1: each vector is one quadruple; four at 0, 4, 8, 12, transposed.
// Lanes hold groups in some fixed order, the same for psi and lambda, so the overlap sums are unaffected.
// ---------------------------------------------------------------------------------------------------
typedef float v4f __attribute__((vector_size(8 * sizeof(float)), aligned(4)));
typedef int v4f_mask __attribute__((vector_size(8 * sizeof(int))));
typedef double v4f_lanes __attribute__((vector_size(4 * sizeof(double))));  // the same bits, one complex a lane
typedef float v4f_half __attribute__((vector_size(4 * sizeof(float))));

PYQML_FUSED_INLINE v4f v4f_load(const float* p) {
    v4f v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}
PYQML_FUSED_INLINE void v4f_store(float* p, v4f v) { __builtin_memcpy(p, &v, sizeof(v)); }
PYQML_FUSED_INLINE v4f v4f_swap(v4f v) { return __builtin_shuffle(v, v4f_mask{1, 0, 3, 2, 5, 4, 7, 6}); }
// Shuffle of complex lanes (a: lanes 0-3, b: lanes 4-7).
template <int A, int B, int C, int D>
PYQML_FUSED_INLINE v4f v4f_lanes_shuffle(v4f a, v4f b) {
    return (v4f)__builtin_shuffle((v4f_lanes)a, (v4f_lanes)b, v2c_mask{A, B, C, D});
}

struct Mat4F {
    v4f re[16], ims[16];
    explicit Mat4F(const cplx* m) {
        for (int i = 0; i < 16; ++i) {
            const float a = float(m[i].real()), b = float(m[i].imag());
            re[i] = v4f{a, a, a, a, a, a, a, a};
            ims[i] = v4f{-b, b, -b, b, -b, b, -b, b};
        }
    }
};

PYQML_FUSED_INLINE void mat4f_apply(const Mat4F& M, const v4f* x, v4f* y) {
    v4f xs[4];
    for (int c = 0; c < 4; ++c) xs[c] = v4f_swap(x[c]);
    for (int r = 0; r < 4; ++r) {
        v4f s = x[0] * M.re[4 * r] + xs[0] * M.ims[4 * r];
        for (int c = 1; c < 4; ++c) s += x[c] * M.re[4 * r + c] + xs[c] * M.ims[4 * r + c];
        y[r] = s;
    }
}

// Four loaded vectors v -> the quadruples' x[r] (split), and back (merge).
template <int Layout>
PYQML_FUSED_INLINE void quadf_split(const v4f* v, v4f* x) {
    if constexpr (Layout == 0) {
        for (int r = 0; r < 4; ++r) x[r] = v[r];
    } else if constexpr (Layout == 1) {
        x[0] = v4f_lanes_shuffle<0, 2, 4, 6>(v[0], v[1]);
        x[1] = v4f_lanes_shuffle<1, 3, 5, 7>(v[0], v[1]);
        x[2] = v4f_lanes_shuffle<0, 2, 4, 6>(v[2], v[3]);
        x[3] = v4f_lanes_shuffle<1, 3, 5, 7>(v[2], v[3]);
    } else if constexpr (Layout == 2) {
        x[0] = v4f_lanes_shuffle<0, 1, 4, 5>(v[0], v[1]);
        x[1] = v4f_lanes_shuffle<2, 3, 6, 7>(v[0], v[1]);
        x[2] = v4f_lanes_shuffle<0, 1, 4, 5>(v[2], v[3]);
        x[3] = v4f_lanes_shuffle<2, 3, 6, 7>(v[2], v[3]);
    } else {  // a 4x4 transpose of complex lanes (its own inverse)
        const v4f t0 = v4f_lanes_shuffle<0, 4, 2, 6>(v[0], v[1]), t1 = v4f_lanes_shuffle<1, 5, 3, 7>(v[0], v[1]);
        const v4f t2 = v4f_lanes_shuffle<0, 4, 2, 6>(v[2], v[3]), t3 = v4f_lanes_shuffle<1, 5, 3, 7>(v[2], v[3]);
        x[0] = v4f_lanes_shuffle<0, 1, 4, 5>(t0, t2);
        x[1] = v4f_lanes_shuffle<0, 1, 4, 5>(t1, t3);
        x[2] = v4f_lanes_shuffle<2, 3, 6, 7>(t0, t2);
        x[3] = v4f_lanes_shuffle<2, 3, 6, 7>(t1, t3);
    }
}

template <int Layout>
PYQML_FUSED_INLINE void quadf_merge(const v4f* x, v4f* v) {
    if constexpr (Layout == 0 || Layout == 3) {
        quadf_split<Layout>(x, v);
    } else if constexpr (Layout == 1) {
        v[0] = v4f_lanes_shuffle<0, 4, 1, 5>(x[0], x[1]);
        v[1] = v4f_lanes_shuffle<2, 6, 3, 7>(x[0], x[1]);
        v[2] = v4f_lanes_shuffle<0, 4, 1, 5>(x[2], x[3]);
        v[3] = v4f_lanes_shuffle<2, 6, 3, 7>(x[2], x[3]);
    } else {
        v[0] = v4f_lanes_shuffle<0, 1, 4, 5>(x[0], x[1]);
        v[1] = v4f_lanes_shuffle<2, 3, 6, 7>(x[0], x[1]);
        v[2] = v4f_lanes_shuffle<0, 1, 4, 5>(x[2], x[3]);
        v[3] = v4f_lanes_shuffle<2, 3, 6, 7>(x[2], x[3]);
    }
}

// The steps of a complex64 block on canonical bits (hi > lo), n >= 4: every step covers the 16 amplitudes
// base + (bits 0, 1 and the layout's two vector bits); the other n - 4 bits number the steps. Steps come in
// runs of consecutive numbers whose bases are 2^f apart (f the lowest bit outside those four).
struct QuadRunsF {
    int layout;
    int s4[4];        // the step's four bits, ascending
    index_t voff[4];  // amplitude offsets of its four vectors, in the layout's order
    int f;            // step stride 2^f amplitudes inside a run
    index_t len;      // steps per run
    int64_t count;    // runs
    QuadRunsF(int n, int hi, int lo) {
        int vb[2];  // the two bits that pick a vector
        if (lo >= 2) {
            layout = 0;
            vb[0] = lo;
            vb[1] = hi;
        } else if (hi >= 2) {
            layout = lo == 0 ? 1 : 2;
            const int e = hi == 2 ? 3 : 2;
            vb[0] = e;
            vb[1] = hi;
        } else {
            layout = 3;
            vb[0] = 2;
            vb[1] = 3;
        }
        voff[0] = 0;
        voff[1] = index_t(1) << vb[0];
        voff[2] = index_t(1) << vb[1];
        voff[3] = voff[1] | voff[2];
        s4[0] = 0;
        s4[1] = 1;
        s4[2] = std::min(vb[0], vb[1]);
        s4[3] = std::max(vb[0], vb[1]);
        f = 2;
        while (f == s4[2] || f == s4[3]) ++f;
        int m = 0;
        while (f + m < n && f + m != s4[2] && f + m != s4[3]) ++m;
        constexpr index_t kRun = 256;
        len = std::min(index_t(1) << m, kRun);
        count = int64_t((index_t(1) << (n - 4)) / len);
    }
    index_t base(int64_t run) const { return insert_zero_bits(index_t(run) * len, s4, 4); }
};

// Runs per kernel call: at least 512 amplitudes.
inline int64_t quadf_runs_per_call(const QuadRunsF& R) {
    return std::max<int64_t>(1, int64_t(512 / (16 * R.len)));
}

template <int Layout>
PYQML_FUSED_INLINE void quadf_load(const float* p, const index_t* voff, v4f* x) {
    v4f v[4];
    for (int k = 0; k < 4; ++k) v[k] = v4f_load(p + 2 * voff[k]);
    quadf_split<Layout>(v, x);
}
template <int Layout>
PYQML_FUSED_INLINE void quadf_store(float* p, const index_t* voff, const v4f* x) {
    v4f v[4];
    quadf_merge<Layout>(x, v);
    for (int k = 0; k < 4; ++k) v4f_store(p + 2 * voff[k], v[k]);
}

template <int Layout>
PYQML_FUSED_INLINE void dense2f_body(const QuadRunsF& R, float* P, int64_t r0, int64_t r1, const Mat4F& M) {
    const index_t stride = index_t(2) << R.f;  // floats between steps
    for (int64_t run = r0; run < r1; ++run) {
        float* p = P + 2 * R.base(run);
        for (index_t i = 0; i < R.len; ++i, p += stride) {
            v4f x[4], y[4];
            quadf_load<Layout>(p, R.voff, x);
            mat4f_apply(M, x, y);
            quadf_store<Layout>(p, R.voff, y);
        }
    }
}

// The overlap of a chunk of buffered steps (as quad_overlap_chunk, in float): A += lam_r * psi_c,
// B += lam_r * swap(psi_c).
PYQML_FUSED_INLINE void quadf_overlap_chunk(const v4f (*yb)[kQuadChunk], const v4f (*ysb)[kQuadChunk],
                                            const v4f (*lb)[kQuadChunk], int m, v4f* A, v4f* B) {
    for (int r = 0; r < 4; ++r) {
        v4f a0 = A[4 * r], a1 = A[4 * r + 1], a2 = A[4 * r + 2], a3 = A[4 * r + 3];
        v4f b0 = B[4 * r], b1 = B[4 * r + 1], b2 = B[4 * r + 2], b3 = B[4 * r + 3];
        for (int t = 0; t < m; ++t) {
            const v4f L = lb[r][t];
            a0 += L * yb[0][t]; b0 += L * ysb[0][t];
            a1 += L * yb[1][t]; b1 += L * ysb[1][t];
            a2 += L * yb[2][t]; b2 += L * ysb[2][t];
            a3 += L * yb[3][t]; b3 += L * ysb[3][t];
        }
        A[4 * r] = a0; A[4 * r + 1] = a1; A[4 * r + 2] = a2; A[4 * r + 3] = a3;
        B[4 * r] = b0; B[4 * r + 1] = b1; B[4 * r + 2] = b2; B[4 * r + 3] = b3;
    }
}

// Adds float sums into double ones (lanes 0-3 and 4-7 of a float vector onto the same four doubles: the
// even / odd pattern of the lanes is kept) and clears them.
PYQML_FUSED_INLINE void quadf_flush(v4f* A, v4f* B, v2c* Ad, v2c* Bd) {
    for (int i = 0; i < 16; ++i) {
        v4f_half lo, hi;
        __builtin_memcpy(&lo, &A[i], sizeof(lo));
        __builtin_memcpy(&hi, reinterpret_cast<const float*>(&A[i]) + 4, sizeof(hi));
        Ad[i] += __builtin_convertvector(lo, v2c) + __builtin_convertvector(hi, v2c);
        __builtin_memcpy(&lo, &B[i], sizeof(lo));
        __builtin_memcpy(&hi, reinterpret_cast<const float*>(&B[i]) + 4, sizeof(hi));
        Bd[i] += __builtin_convertvector(lo, v2c) + __builtin_convertvector(hi, v2c);
        A[i] = B[i] = v4f{0, 0, 0, 0, 0, 0, 0, 0};
    }
}

// One pass of the adjoint step of a complex64 block over runs [r0, r1) (canonical order): psi <- M psi,
// the overlap (float within a few chunks of steps, then double) into s[0..32), lam <- M lam.
template <int Layout, bool UpdatePsi, bool UpdateLam>
PYQML_FUSED_INLINE void adjoint2f_body(const QuadRunsF& R, float* P, float* Lm, int64_t r0, int64_t r1,
                                       const Mat4F& M, double* s) {
    v4f A[16], B[16];
    v2c Ad[16], Bd[16];
    for (int i = 0; i < 16; ++i) {
        A[i] = B[i] = v4f{0, 0, 0, 0, 0, 0, 0, 0};
        Ad[i] = Bd[i] = v2c{0, 0, 0, 0};
    }
    v4f yb[4][kQuadChunk], ysb[4][kQuadChunk], lb[4][kQuadChunk];
    int t = 0, chunks = 0;
    const index_t stride = index_t(2) << R.f;
    for (int64_t run = r0; run < r1; ++run) {
        const index_t b = 2 * R.base(run);
        float* p = P + b;
        float* l = Lm + b;
        for (index_t i = 0; i < R.len; ++i, p += stride, l += stride) {
            v4f x[4], y[4], lam[4];
            quadf_load<Layout>(p, R.voff, x);
            if constexpr (UpdatePsi) {
                mat4f_apply(M, x, y);
                quadf_store<Layout>(p, R.voff, y);
            } else {
                for (int r = 0; r < 4; ++r) y[r] = x[r];
            }
            quadf_load<Layout>(l, R.voff, lam);
            for (int r = 0; r < 4; ++r) {
                yb[r][t] = y[r];
                ysb[r][t] = v4f_swap(y[r]);
                lb[r][t] = lam[r];
            }
            if constexpr (UpdateLam) {
                v4f out[4];
                mat4f_apply(M, lam, out);
                quadf_store<Layout>(l, R.voff, out);
            }
            if (++t == kQuadChunk) {
                quadf_overlap_chunk(yb, ysb, lb, t, A, B);
                t = 0;
                if (++chunks == 4) {
                    quadf_flush(A, B, Ad, Bd);
                    chunks = 0;
                }
            }
        }
    }
    if (t) quadf_overlap_chunk(yb, ysb, lb, t, A, B);
    quadf_flush(A, B, Ad, Bd);
    for (int i = 0; i < 16; ++i) {
        s[2 * i] += (Ad[i][0] + Ad[i][1]) + (Ad[i][2] + Ad[i][3]);
        s[2 * i + 1] += (Bd[i][0] - Bd[i][1]) + (Bd[i][2] - Bd[i][3]);
    }
}

template <int Layout>
void dense2f_run_base(const QuadRunsF& R, float* P, int64_t r0, int64_t r1, const Mat4F& M) {
    dense2f_body<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run2f_base(const QuadRunsF& R, float* P, float* L, int64_t r0, int64_t r1, const Mat4F& M, double* s) {
    adjoint2f_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#if PYQML_FUSED_FMA
template <int Layout>
__attribute__((target("avx2,fma"))) void dense2f_run_fma(const QuadRunsF& R, float* P, int64_t r0, int64_t r1,
                                                          const Mat4F& M) {
    dense2f_body<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
__attribute__((target("avx2,fma"))) void adjoint_run2f_fma(const QuadRunsF& R, float* P, float* L, int64_t r0,
                                                           int64_t r1, const Mat4F& M, double* s) {
    adjoint2f_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#endif
template <int Layout>
void dense2f_run_v(const QuadRunsF& R, float* P, int64_t r0, int64_t r1, const Mat4F& M) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return dense2f_run_fma<Layout>(R, P, r0, r1, M);
#endif
    dense2f_run_base<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run2f_v(const QuadRunsF& R, float* P, float* L, int64_t r0, int64_t r1, const Mat4F& M, double* s) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return adjoint_run2f_fma<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
#endif
    adjoint_run2f_base<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}

// complex64 2x2 blocks on one bit: a step takes eight amplitudes as x (the bit clear) and y (set), four
// groups each. Layout 0 (bit >= 2): x at base, y at base + 2^bit; layouts 1 and 2 (bit 0 or 1): the eight
// neighbours base .. base + 7, split as layouts 1 and 2 of the 4x4 blocks split theirs.
struct PairRunsF {
    int layout;
    int s3[3];        // the step's three bits, ascending
    index_t voff;     // amplitude offset of its second vector
    int f;            // step stride 2^f amplitudes inside a run
    index_t len;      // steps per run
    int64_t count;    // runs
    PairRunsF(int n, int bit) {
        layout = bit >= 2 ? 0 : bit == 0 ? 1 : 2;
        const int vb = bit >= 2 ? bit : 2;
        s3[0] = 0;
        s3[1] = 1;
        s3[2] = vb;
        voff = index_t(1) << vb;
        f = vb == 2 ? 3 : 2;
        int m = 0;
        while (f + m < n && f + m != vb) ++m;
        constexpr index_t kRun = 256;
        len = std::min(index_t(1) << m, kRun);
        count = int64_t((index_t(1) << (n - 3)) / len);
    }
    index_t base(int64_t run) const { return insert_zero_bits(index_t(run) * len, s3, 3); }
};

inline int64_t pairf_runs_per_call(const PairRunsF& R) { return std::max<int64_t>(1, int64_t(512 / (8 * R.len))); }

struct Mat2F {
    v4f re[4], ims[4];
    explicit Mat2F(const cplx* m) {
        for (int i = 0; i < 4; ++i) {
            const float a = float(m[i].real()), b = float(m[i].imag());
            re[i] = v4f{a, a, a, a, a, a, a, a};
            ims[i] = v4f{-b, b, -b, b, -b, b, -b, b};
        }
    }
};

template <int Layout>
PYQML_FUSED_INLINE void pairf_load(const float* p, index_t voff, v4f& x, v4f& y) {
    const v4f v0 = v4f_load(p), v1 = v4f_load(p + 2 * voff);
    if constexpr (Layout == 0) {
        x = v0;
        y = v1;
    } else if constexpr (Layout == 1) {
        x = v4f_lanes_shuffle<0, 2, 4, 6>(v0, v1);
        y = v4f_lanes_shuffle<1, 3, 5, 7>(v0, v1);
    } else {
        x = v4f_lanes_shuffle<0, 1, 4, 5>(v0, v1);
        y = v4f_lanes_shuffle<2, 3, 6, 7>(v0, v1);
    }
}
template <int Layout>
PYQML_FUSED_INLINE void pairf_store(float* p, index_t voff, v4f x, v4f y) {
    if constexpr (Layout == 0) {
        v4f_store(p, x);
        v4f_store(p + 2 * voff, y);
    } else if constexpr (Layout == 1) {
        v4f_store(p, v4f_lanes_shuffle<0, 4, 1, 5>(x, y));
        v4f_store(p + 2 * voff, v4f_lanes_shuffle<2, 6, 3, 7>(x, y));
    } else {
        v4f_store(p, v4f_lanes_shuffle<0, 1, 4, 5>(x, y));
        v4f_store(p + 2 * voff, v4f_lanes_shuffle<2, 3, 6, 7>(x, y));
    }
}
PYQML_FUSED_INLINE void mat2f_apply(const Mat2F& M, v4f x, v4f y, v4f& ox, v4f& oy) {
    const v4f xs = v4f_swap(x), ys = v4f_swap(y);
    ox = x * M.re[0] + xs * M.ims[0] + y * M.re[1] + ys * M.ims[1];
    oy = x * M.re[2] + xs * M.ims[2] + y * M.re[3] + ys * M.ims[3];
}

template <int Layout>
PYQML_FUSED_INLINE void dense1f_body(const PairRunsF& R, float* P, int64_t r0, int64_t r1, const Mat2F& M) {
    const index_t stride = index_t(2) << R.f;
    for (int64_t run = r0; run < r1; ++run) {
        float* p = P + 2 * R.base(run);
        for (index_t i = 0; i < R.len; ++i, p += stride) {
            v4f x, y, ox, oy;
            pairf_load<Layout>(p, R.voff, x, y);
            mat2f_apply(M, x, y, ox, oy);
            pairf_store<Layout>(p, R.voff, ox, oy);
        }
    }
}

// adjoint_step1's pass for a complex64 2x2 block: the four overlaps in float registers, added into double
// every 64 steps.
template <int Layout, bool UpdatePsi, bool UpdateLam>
PYQML_FUSED_INLINE void adjoint1f_body(const PairRunsF& R, float* P, float* Lm, int64_t r0, int64_t r1,
                                       const Mat2F& M, double* s) {
    v4f A[4], B[4];
    v2c Ad[4], Bd[4];
    for (int i = 0; i < 4; ++i) {
        A[i] = B[i] = v4f{0, 0, 0, 0, 0, 0, 0, 0};
        Ad[i] = Bd[i] = v2c{0, 0, 0, 0};
    }
    auto flush = [&]() {
        for (int i = 0; i < 4; ++i) {
            v4f_half lo, hi;
            __builtin_memcpy(&lo, &A[i], sizeof(lo));
            __builtin_memcpy(&hi, reinterpret_cast<const float*>(&A[i]) + 4, sizeof(hi));
            Ad[i] += __builtin_convertvector(lo, v2c) + __builtin_convertvector(hi, v2c);
            __builtin_memcpy(&lo, &B[i], sizeof(lo));
            __builtin_memcpy(&hi, reinterpret_cast<const float*>(&B[i]) + 4, sizeof(hi));
            Bd[i] += __builtin_convertvector(lo, v2c) + __builtin_convertvector(hi, v2c);
            A[i] = B[i] = v4f{0, 0, 0, 0, 0, 0, 0, 0};
        }
    };
    int t = 0;
    const index_t stride = index_t(2) << R.f;
    for (int64_t run = r0; run < r1; ++run) {
        const index_t b = 2 * R.base(run);
        float* p = P + b;
        float* l = Lm + b;
        for (index_t i = 0; i < R.len; ++i, p += stride, l += stride) {
            v4f x, y, u, v;
            pairf_load<Layout>(p, R.voff, x, y);
            if constexpr (UpdatePsi) {
                v4f ox, oy;
                mat2f_apply(M, x, y, ox, oy);
                x = ox;
                y = oy;
                pairf_store<Layout>(p, R.voff, x, y);
            }
            pairf_load<Layout>(l, R.voff, u, v);
            const v4f xs = v4f_swap(x), ys = v4f_swap(y);
            A[0] += u * x; B[0] += u * xs;
            A[1] += u * y; B[1] += u * ys;
            A[2] += v * x; B[2] += v * xs;
            A[3] += v * y; B[3] += v * ys;
            if constexpr (UpdateLam) {
                v4f ou, ov;
                mat2f_apply(M, u, v, ou, ov);
                pairf_store<Layout>(l, R.voff, ou, ov);
            }
            if (++t == 64) {
                flush();
                t = 0;
            }
        }
    }
    flush();
    for (int i = 0; i < 4; ++i) {
        s[2 * i] += (Ad[i][0] + Ad[i][1]) + (Ad[i][2] + Ad[i][3]);
        s[2 * i + 1] += (Bd[i][0] - Bd[i][1]) + (Bd[i][2] - Bd[i][3]);
    }
}

template <int Layout>
void dense1f_run_base(const PairRunsF& R, float* P, int64_t r0, int64_t r1, const Mat2F& M) {
    dense1f_body<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run1f_base(const PairRunsF& R, float* P, float* L, int64_t r0, int64_t r1, const Mat2F& M, double* s) {
    adjoint1f_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#if PYQML_FUSED_FMA
template <int Layout>
__attribute__((target("avx2,fma"))) void dense1f_run_fma(const PairRunsF& R, float* P, int64_t r0, int64_t r1,
                                                          const Mat2F& M) {
    dense1f_body<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
__attribute__((target("avx2,fma"))) void adjoint_run1f_fma(const PairRunsF& R, float* P, float* L, int64_t r0,
                                                           int64_t r1, const Mat2F& M, double* s) {
    adjoint1f_body<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}
#endif
template <int Layout>
void dense1f_run_v(const PairRunsF& R, float* P, int64_t r0, int64_t r1, const Mat2F& M) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return dense1f_run_fma<Layout>(R, P, r0, r1, M);
#endif
    dense1f_run_base<Layout>(R, P, r0, r1, M);
}
template <int Layout, bool UpdatePsi, bool UpdateLam>
void adjoint_run1f_v(const PairRunsF& R, float* P, float* L, int64_t r0, int64_t r1, const Mat2F& M, double* s) {
#if PYQML_FUSED_FMA
    if (fused_have_fma()) return adjoint_run1f_fma<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
#endif
    adjoint_run1f_base<Layout, UpdatePsi, UpdateLam>(R, P, L, r0, r1, M, s);
}

// A fused 2x2 block on one bit: complex64 on the vectors above (n >= kRunMinWires), else apply_dense1.
template <class F>
void apply_fused1(amp_t<F>* psi, int n, int bit, const cplx* m, bool par) {
    if constexpr (std::is_same_v<F, float>) {
        if (n >= kRunMinWires) {
            const Mat2F M(m);
            const PairRunsF runs(n, bit);
            float* P = reinterpret_cast<float*>(psi);
            const int64_t per = pairf_runs_per_call(runs);
            const int64_t calls = (runs.count + per - 1) / per;
            for_range(calls, par, [&](int64_t c) {
                const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
                if (runs.layout == 0) dense1f_run_v<0>(runs, P, r0, r1, M);
                else if (runs.layout == 1) dense1f_run_v<1>(runs, P, r0, r1, M);
                else dense1f_run_v<2>(runs, P, r0, r1, M);
            });
            return;
        }
    }
    apply_dense1<F>(psi, n, bit, m, par);
}

// The complex64 2x2 kernels run from this many wires (a step's three bits): below kRunMinWires too, where
// adjoint_step1's per-pair loop in float, with a conversion to double per product, was slower than
// complex128's.
inline constexpr int kPairF32MinWires = 3;

// The adjoint step of a 2x2 block or a lone uncontrolled 2x2 gate (adjoint_step1 without a control):
// complex64 on the vectors above (n >= kPairF32MinWires), else adjoint_step1.
template <class F>
void adjoint_step_fused1(amp_t<F>* psi, amp_t<F>* lam, int n, int bit, const cplx* uinv, bool update_psi,
                         bool update_lam, cplx* G, bool par) {
    if constexpr (std::is_same_v<F, float>) {
        if (n >= kPairF32MinWires) {
            const Mat2F M(uinv);
            const PairRunsF runs(n, bit);
            float* P = reinterpret_cast<float*>(psi);
            float* L = reinterpret_cast<float*>(lam);
            const int64_t per = pairf_runs_per_call(runs);
            const int64_t calls = (runs.count + per - 1) / per;
            double acc[8] = {};
            reduce_range<8>(calls, par, acc, [&](int64_t c, double* s) {
                const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
                auto go = [&](auto layout) {
                    constexpr int Lay = decltype(layout)::value;
                    if (update_psi) {
                        if (update_lam) adjoint_run1f_v<Lay, true, true>(runs, P, L, r0, r1, M, s);
                        else adjoint_run1f_v<Lay, true, false>(runs, P, L, r0, r1, M, s);
                    } else {
                        if (update_lam) adjoint_run1f_v<Lay, false, true>(runs, P, L, r0, r1, M, s);
                        else adjoint_run1f_v<Lay, false, false>(runs, P, L, r0, r1, M, s);
                    }
                };
                if (runs.layout == 0) go(std::integral_constant<int, 0>{});
                else if (runs.layout == 1) go(std::integral_constant<int, 1>{});
                else go(std::integral_constant<int, 2>{});
            });
            for (int i = 0; i < 4; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
            return;
        }
    }
    adjoint_step1<F>(psi, lam, n, bit, -1, uinv, update_psi, update_lam, G, par);
}

// The local index of a block on (bh, bl) in the canonical order (high bit = the larger bit): the two bits
// of r swapped when bh < bl.
inline int quadf_canonical(int r, bool swapped) { return swapped ? ((r & 1) << 1) | (r >> 1) : r; }

// complex64 dense 4x4 on bits (bh, bl), n >= kRunMinWires.
inline void apply_fused2_f32(amp_t<float>* psi, int n, int bh, int bl, const cplx* m, bool par) {
    const bool swapped = bh < bl;
    cplx mc[16];
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) mc[4 * quadf_canonical(r, swapped) + quadf_canonical(c, swapped)] = m[4 * r + c];
    const Mat4F M(mc);
    const QuadRunsF runs(n, std::max(bh, bl), std::min(bh, bl));
    float* P = reinterpret_cast<float*>(psi);
    const int64_t per = quadf_runs_per_call(runs);
    const int64_t calls = (runs.count + per - 1) / per;
    for_range(calls, par, [&](int64_t c) {
        const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
        switch (runs.layout) {
            case 0: dense2f_run_v<0>(runs, P, r0, r1, M); break;
            case 1: dense2f_run_v<1>(runs, P, r0, r1, M); break;
            case 2: dense2f_run_v<2>(runs, P, r0, r1, M); break;
            default: dense2f_run_v<3>(runs, P, r0, r1, M); break;
        }
    });
}

// complex64 adjoint_step2 (n >= kRunMinWires): acc receives G as (re, im) x 16 in the caller's order.
inline void adjoint_step2_f32(amp_t<float>* psi, amp_t<float>* lam, int n, int bh, int bl, const cplx* uinv,
                              bool update_psi, bool update_lam, double* acc, bool par) {
    const bool swapped = bh < bl;
    cplx mc[16];
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c)
            mc[4 * quadf_canonical(r, swapped) + quadf_canonical(c, swapped)] = uinv[4 * r + c];
    const Mat4F M(mc);
    const QuadRunsF runs(n, std::max(bh, bl), std::min(bh, bl));
    float* P = reinterpret_cast<float*>(psi);
    float* L = reinterpret_cast<float*>(lam);
    const int64_t per = quadf_runs_per_call(runs);
    const int64_t calls = (runs.count + per - 1) / per;
    double g[32] = {};
    reduce_range<32>(calls, par, g, [&](int64_t c, double* s) {
        const int64_t r0 = c * per, r1 = std::min(runs.count, r0 + per);
        auto go = [&](auto layout) {
            constexpr int Lay = decltype(layout)::value;
            if (update_psi) {
                if (update_lam) adjoint_run2f_v<Lay, true, true>(runs, P, L, r0, r1, M, s);
                else adjoint_run2f_v<Lay, true, false>(runs, P, L, r0, r1, M, s);
            } else {
                if (update_lam) adjoint_run2f_v<Lay, false, true>(runs, P, L, r0, r1, M, s);
                else adjoint_run2f_v<Lay, false, false>(runs, P, L, r0, r1, M, s);
            }
        };
        switch (runs.layout) {
            case 0: go(std::integral_constant<int, 0>{}); break;
            case 1: go(std::integral_constant<int, 1>{}); break;
            case 2: go(std::integral_constant<int, 2>{}); break;
            default: go(std::integral_constant<int, 3>{}); break;
        }
    });
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) {
            const int k = 4 * quadf_canonical(r, swapped) + quadf_canonical(c, swapped);
            acc[2 * (4 * r + c)] = g[2 * k];
            acc[2 * (4 * r + c) + 1] = g[2 * k + 1];
        }
}

// Dense 4x4 on bits (bh, bl) from kRunMinWires wires: complex128 on its vectors when a run layout applies
// (not on bits 0 and 1 together), complex64 on its own for every pair; else apply_dense2's per-group loop.
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
    if constexpr (std::is_same_v<F, float>) {
        if (n >= kRunMinWires) {
            apply_fused2_f32(psi, n, bh, bl, m, par);
            return;
        }
    }
    apply_dense2<F>(psi, n, bh, bl, m, par);
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
    if constexpr (std::is_same_v<F, float>) {
        if (n >= kRunMinWires) {
            adjoint_step2_f32(psi, lam, n, bh, bl, uinv, update_psi, update_lam, acc, par);
            for (int i = 0; i < 16; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
            return;
        }
    }
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
    } else {
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
    }
    for (int i = 0; i < 16; ++i) G[i] = cplx(acc[2 * i], acc[2 * i + 1]);
}

}  // namespace pyqml::sv
